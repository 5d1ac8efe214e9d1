"""Gaze sessions: the tracker picker, calibration and validation UI, recording control, and the
mouse source (Tobii, LSL and replay sources live in ml.gaze.sources)."""
