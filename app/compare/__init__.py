"""Real vs predicted gaze comparison."""
