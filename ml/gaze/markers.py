"""An LSL marker stream of what the reader sees and does, so a lab's own LabRecorder lines up with us.

Labs record their trackers, EEG and video with LabRecorder into one XDF file; our markers join
that file on the same LSL clock: image opened, viewport (zoom/pan, the part of the image on
screen), window/level, annotation events, recording start/stop. Each marker is one string sample,
a compact JSON object ``{"event": ..., ...}`` so any XDF reader can parse it; the LSL timestamp is
when it happened (``t_us`` on our monotonic clock converts to LSL's clock, which is the same
clock on Linux).

Qt-free: the GUI calls the methods below from its handlers. Publishing never raises into the GUI
and costs one liblsl call; without pylsl, or with ``enabled=False``, the publisher does nothing
(``available`` says so).
"""

from __future__ import annotations

import enum
import json
import math
import threading
from typing import Any

from ml.gaze.sources.base import now_us

STREAM_NAME = "Gaze2Report markers"
STREAM_TYPE = "Markers"


class Marker(str, enum.Enum):
    IMAGE_OPENED = "image_opened"
    VIEWPORT = "viewport"
    WINDOW_LEVEL = "window_level"
    ANNOTATION = "annotation"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"


class MarkerPublisher:
    """One LSL outlet (type ``Markers``, one string channel, irregular rate).

    ``source_id`` lets LabRecorder reconnect to the same stream after a restart (default: one per
    host and user). ``published`` counts markers sent; ``error`` holds why publishing is off.
    """

    def __init__(
        self, *, name: str = STREAM_NAME, source_id: str | None = None, enabled: bool = True
    ) -> None:
        self.name = name
        self.published = 0
        self.error = ""
        self._outlet: Any = None
        self._lsl: Any = None
        self._lock = threading.Lock()
        if not enabled:
            self.error = "marker stream turned off"
            return
        try:
            import pylsl
        except (ImportError, OSError, RuntimeError) as exc:
            self.error = f"no marker stream: pylsl is not available ({exc})"
            return
        if source_id is None:
            import getpass
            import socket

            source_id = f"gaze2report-markers-{socket.gethostname()}-{getpass.getuser()}"
        info = pylsl.StreamInfo(name, STREAM_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, source_id)
        desc = info.desc()
        desc.append_child_value("manufacturer", "Gaze2Report")
        ch = desc.append_child("channels").append_child("channel")
        ch.append_child_value("label", "event")
        ch.append_child_value("type", "Marker")
        ch.append_child_value("format", "json")
        self._lsl = pylsl
        self._outlet = pylsl.StreamOutlet(info)
        self._offset_s = (now_us() / 1e6) - pylsl.local_clock()

    @property
    def available(self) -> bool:
        return self._outlet is not None

    def have_consumers(self) -> bool:
        return bool(self._outlet is not None and self._outlet.have_consumers())

    def close(self) -> None:
        with self._lock:
            self._outlet = None

    # ----------------------------------------------------------------- the events
    def publish(self, event: Marker | str, t_us: int | None = None, **data: Any) -> None:
        """Send one marker ``{"event": event, **data}`` stamped at ``t_us`` (default: now)."""
        outlet = self._outlet
        if outlet is None:
            return
        payload = json.dumps({"event": Marker(event).value, **data}, separators=(",", ":"), default=_plain)
        stamp = self._lsl.local_clock() if t_us is None else t_us / 1e6 - self._offset_s
        with self._lock:
            if self._outlet is None:
                return
            try:
                outlet.push_sample([payload], stamp)
            except Exception as exc:  # noqa: BLE001 - never break the reading for a marker
                self.error = f"marker stream failed: {exc}"
                self._outlet = None
                return
            self.published += 1

    def image_opened(self, image_id: str, *, path: str = "", size: tuple[int, int] | None = None, t_us: int | None = None) -> None:
        self.publish(Marker.IMAGE_OPENED, t_us, image_id=image_id, path=path, size=list(size) if size else None)

    def viewport(self, viewport: Any, t_us: int | None = None) -> None:
        """A :class:`~ml.gaze.geometry.Viewport` (or any object with its fields): zoom/pan/what is shown."""
        fields = ("image_id", "image_size", "image_rect", "view_rect", "zoom", "pan", "window_center", "window_width")
        data = {f: _finite(getattr(viewport, f)) for f in fields if hasattr(viewport, f)}
        self.publish(Marker.VIEWPORT, t_us if t_us is not None else getattr(viewport, "t_us", None), **data)

    def window_level(self, center: float, width: float, *, preset: str = "", t_us: int | None = None) -> None:
        self.publish(Marker.WINDOW_LEVEL, t_us, center=float(center), width=float(width), preset=preset)

    def annotation(self, action: str, *, shape: str = "", label: str = "", annotation_id: int | None = None, t_us: int | None = None) -> None:
        """``action``: added, changed, removed, undone, redone (whatever the GUI did)."""
        self.publish(Marker.ANNOTATION, t_us, action=action, shape=shape, label=label, annotation_id=annotation_id)

    def recording_started(self, session_id: int | None, *, source: str = "", t_us: int | None = None) -> None:
        self.publish(Marker.RECORDING_STARTED, t_us, session_id=session_id, source=source)

    def recording_stopped(self, session_id: int | None, *, status: str = "completed", t_us: int | None = None) -> None:
        self.publish(Marker.RECORDING_STOPPED, t_us, session_id=session_id, status=status)


def _finite(v: Any) -> Any:
    """NaN (e.g. a window not yet known) as null: JSON has no NaN."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _plain(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (tuple, set)):
        return list(v)
    return str(v)
