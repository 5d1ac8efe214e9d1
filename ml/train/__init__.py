"""Training (torch): data → batches, the stage loop (Accelerate), checkpoints, curves, the run."""
