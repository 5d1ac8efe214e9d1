"""Gaze sources: one interface (:class:`GazeSource`), implementations for Tobii Pro trackers
(``tobii``, SDK imported lazily) and replay of recorded gaze (``replay``). The mouse source needs
Qt and lives in the GUI (app/session), implementing the same interface."""

from ml.gaze.sources.base import (
    CallbackSource,
    GazeSource,
    Sink,
    SourceError,
    SourceEvent,
    SourceState,
    SourceUnavailable,
    now_us,
)
from ml.gaze.sources.replay import ReplayData, ReplaySource, load_egd_gaze, load_gaze_csv, load_session
from ml.gaze.sources.tobii import NoTrackerFound, ScreenRect, TobiiSource, find_trackers

__all__ = [
    "CallbackSource",
    "GazeSource",
    "NoTrackerFound",
    "ReplayData",
    "ReplaySource",
    "ScreenRect",
    "Sink",
    "SourceError",
    "SourceEvent",
    "SourceState",
    "SourceUnavailable",
    "TobiiSource",
    "find_trackers",
    "load_egd_gaze",
    "load_gaze_csv",
    "load_session",
    "now_us",
]
