"""The worklist: which studies are open and where each one stands."""
