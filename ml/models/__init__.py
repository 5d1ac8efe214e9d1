"""Models (torch): vision encoder, scanpath predictor, gaze graph + GNN, projector, LLM."""
