"""Gaze sessions: sources (mouse here; Tobii and replay in ml.gaze), calibration UI, recording control."""
