"""Qt-free state of the workstation: what is open and what may be done with it (views subscribe)."""
