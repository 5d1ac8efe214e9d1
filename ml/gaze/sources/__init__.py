"""Gaze sources: one interface (:class:`GazeSource`), implementations for Tobii Pro trackers
through TittaPy (``titta``, the default on the workstation's Python) or the Tobii Pro SDK
(``tobii``, Python 3.10), any tracker that streams over Lab Streaming Layer (``lsl``), and replay
of recorded gaze (``replay``); tracker libraries are imported lazily. ``listing`` lists what can
record here for the GUI's picker. The mouse source needs Qt and lives in the GUI (app/session),
implementing the same interface."""

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
from ml.gaze.sources.eyes import EyeLog, session_eyes
from ml.gaze.sources.lsl import (
    ChannelMap,
    ChannelMismatch,
    LslSource,
    LslStream,
    NoStreamFound,
    find_gaze_streams,
)
from ml.gaze.sources.replay import ReplayData, ReplaySource, load_egd_gaze, load_gaze_csv, load_session
from ml.gaze.sources.titta import TittaSource, find_titta_trackers
from ml.gaze.sources.tobii import NoTrackerFound, ScreenRect, TobiiSource, find_trackers

__all__ = [
    "CallbackSource",
    "ChannelMap",
    "ChannelMismatch",
    "EyeLog",
    "LslSource",
    "LslStream",
    "NoStreamFound",
    "TittaSource",
    "find_gaze_streams",
    "find_titta_trackers",
    "session_eyes",
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
