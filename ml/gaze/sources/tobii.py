"""Tobii Pro screen-based trackers through the Tobii Pro SDK (``tobii_research``).

The SDK is an optional, separately licensed dependency that ships wheels for Python 3.10 only
(``pip install 'gaze2report[tobii]'`` in a 3.10 environment). It is imported lazily, on first use,
so the rest of the application runs without it and says clearly why the tracker is unavailable.

Mapping (per SDK gaze data dictionary, ``as_dictionary=True``):

* ``left/right_gaze_point_on_display_area`` are normalised to the tracker's display area (origin
  top-left, x right, y down); they become screen pixels through the display's pixel rectangle.
* Both eyes valid → their mean; one eye valid → that eye; none → an invalid sample (a gap, NaN
  position), never a fabricated point.
* ``system_time_stamp`` (µs, the computer's monotonic clock) is the sample time;
  ``device_time_stamp`` (µs, the tracker's clock) is kept too; the pupil is the mean of the valid
  pupil diameters (mm).

The SDK calls the callback on its own thread: the callback does the arithmetic above and hands
the sample to the sink (which only enqueues). Connection lost/restored notifications change the
source's state and reach listeners as :class:`~ml.gaze.sources.base.SourceEvent` objects.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ml.gaze.sources.base import BinocularSample, GazeSource, SourceError, SourceState, SourceUnavailable
from ml.types import GazeSample

SDK_MODULE = "tobii_research"

INSTALL_HINT = (
    "The Tobii Pro SDK (tobii-research) is not installed; it ships for Python 3.10 only: "
    "in a Python 3.10 environment run  pip install 'gaze2report[tobii]'."
)
NO_TRACKER = (
    "No Tobii eye tracker found: check that it is connected and powered on, "
    "and that Tobii Pro Eye Tracker Manager can see it."
)


class NoTrackerFound(SourceError):
    """The SDK works but found no tracker (or not the requested one)."""


def load_sdk() -> ModuleType:
    """Import ``tobii_research`` or raise :class:`SourceUnavailable` with the install hint."""
    try:
        return importlib.import_module(SDK_MODULE)
    except ImportError as exc:
        raise SourceUnavailable(INSTALL_HINT) from exc
    except OSError as exc:  # the wheel's native library failed to load on this platform
        raise SourceUnavailable(f"The Tobii Pro SDK could not load its native library: {exc}") from exc


@dataclass(frozen=True)
class TrackerInfo:
    """What discovery tells about a tracker (for a picker in the GUI)."""

    address: str
    model: str
    name: str
    serial_number: str
    frequency: float = math.nan
    tracking_mode: str = ""
    supported_frequencies: tuple[float, ...] = ()
    supported_modes: tuple[str, ...] = ()


def find_trackers(sdk: ModuleType | None = None) -> list[TrackerInfo]:
    """Trackers the SDK can see (empty list when none)."""
    sdk = sdk or load_sdk()
    out = []
    for t in sdk.find_all_eyetrackers():
        try:
            freq = float(t.get_gaze_output_frequency())
        except Exception:  # a tracker that refuses the query still shows up
            freq = math.nan
        out.append(TrackerInfo(t.address, t.model, t.device_name, t.serial_number, freq))
    return out


@dataclass(frozen=True)
class ScreenRect:
    """Where the tracker's display area is on the virtual desktop, in pixels."""

    x: float = 0.0
    y: float = 0.0
    width: float = 1920.0
    height: float = 1080.0

    def to_pixels(self, nx: float, ny: float) -> tuple[float, float]:
        return self.x + nx * self.width, self.y + ny * self.height

    def to_normalised(self, px: float, py: float) -> tuple[float, float]:
        return (px - self.x) / self.width, (py - self.y) / self.height


def _finite2(p: Any) -> bool:
    try:
        return math.isfinite(p[0]) and math.isfinite(p[1])
    except (TypeError, IndexError):
        return False


def map_gaze_data(data: dict, screen: ScreenRect) -> tuple[GazeSample, BinocularSample]:
    """One SDK gaze-data dictionary → a combined sample and the per-eye sample (pure function)."""
    lp = data["left_gaze_point_on_display_area"]
    rp = data["right_gaze_point_on_display_area"]
    lv = bool(data["left_gaze_point_validity"]) and _finite2(lp)
    rv = bool(data["right_gaze_point_validity"]) and _finite2(rp)
    t_us = int(data["system_time_stamp"])
    left = screen.to_pixels(lp[0], lp[1]) if lv else (math.nan, math.nan)
    right = screen.to_pixels(rp[0], rp[1]) if rv else (math.nan, math.nan)
    if lv and rv:
        x, y = (left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0
    elif lv:
        x, y = left
    elif rv:
        x, y = right
    else:
        x = y = math.nan
    eye_pupil = {
        side: float(data[f"{side}_pupil_diameter"])
        if data.get(f"{side}_pupil_validity") and math.isfinite(data.get(f"{side}_pupil_diameter", math.nan))
        else math.nan
        for side in ("left", "right")
    }
    pupils = [p for p in eye_pupil.values() if math.isfinite(p)]
    pupil = sum(pupils) / len(pupils) if pupils else math.nan
    device_t = int(data["device_time_stamp"])
    sample = GazeSample(t_us, x, y, lv or rv, pupil, device_t)
    return sample, BinocularSample(t_us, left, right, lv, rv, eye_pupil["left"], eye_pupil["right"], device_t)


class TobiiSource(GazeSource):
    """A Tobii Pro screen-based tracker as a gaze source.

    ``address`` picks a tracker (default: the first found); ``screen`` is the display area's
    pixel rectangle; ``frequency`` (Hz) is set on the tracker when given; ``sdk`` injects a
    module (tests pass a fake; by default ``tobii_research`` is imported on start).
    """

    name = "tobii"

    def __init__(
        self,
        address: str | None = None,
        screen: ScreenRect | tuple[float, float, float, float] = ScreenRect(),
        *,
        frequency: float | None = None,
        sdk: ModuleType | None = None,
    ) -> None:
        super().__init__()
        self.address = address
        self.screen = screen if isinstance(screen, ScreenRect) else ScreenRect(*screen)
        self.frequency = frequency
        self._sdk = sdk
        self.tracker: Any = None
        self.info: TrackerInfo | None = None

    # ----------------------------------------------------------------- availability
    @classmethod
    def load_library(cls) -> None:
        load_sdk()

    @property
    def sdk(self) -> ModuleType:
        if self._sdk is None:
            self._sdk = load_sdk()
        return self._sdk

    def clock_us(self) -> int:
        return int(self.sdk.get_system_time_stamp())

    # ----------------------------------------------------------------- life cycle
    def connect(self) -> Any:
        """Find and open the tracker (idempotent); raises NoTrackerFound when there is none."""
        if self.tracker is not None:
            return self.tracker
        sdk = self.sdk
        if self.address:
            try:
                tracker = sdk.EyeTracker(self.address)
            except Exception as exc:
                raise NoTrackerFound(f"Cannot connect to the Tobii tracker at {self.address}: {exc}") from exc
        else:
            found = sdk.find_all_eyetrackers()
            if not found:
                raise NoTrackerFound(NO_TRACKER)
            tracker = found[0]
        if self.frequency:
            try:
                tracker.set_gaze_output_frequency(float(self.frequency))
            except Exception as exc:
                raise SourceError(f"The tracker refused {self.frequency:g} Hz: {exc}") from exc
        self.tracker = tracker
        try:
            freq = float(tracker.get_gaze_output_frequency())
        except Exception:
            freq = math.nan
        self.info = TrackerInfo(
            tracker.address, tracker.model, tracker.device_name, tracker.serial_number, freq
        )
        return tracker

    def _prepare(self) -> None:
        self.connect()

    def _start(self) -> None:
        sdk, tracker = self.sdk, self.tracker
        tracker.subscribe_to(sdk.EYETRACKER_NOTIFICATION_CONNECTION_LOST, self._on_lost, as_dictionary=True)
        tracker.subscribe_to(
            sdk.EYETRACKER_NOTIFICATION_CONNECTION_RESTORED, self._on_restored, as_dictionary=True
        )
        tracker.subscribe_to(sdk.EYETRACKER_GAZE_DATA, self._on_gaze, as_dictionary=True)

    def _stop(self) -> None:
        sdk, tracker = self.sdk, self.tracker
        if tracker is None:
            return
        for kind, cb in (
            (sdk.EYETRACKER_GAZE_DATA, self._on_gaze),
            (sdk.EYETRACKER_NOTIFICATION_CONNECTION_LOST, self._on_lost),
            (sdk.EYETRACKER_NOTIFICATION_CONNECTION_RESTORED, self._on_restored),
        ):
            tracker.unsubscribe_from(kind, cb)

    # ----------------------------------------------------------------- SDK callbacks (SDK thread)
    def _on_gaze(self, data: dict) -> None:
        sample, eyes = map_gaze_data(data, self.screen)
        if not sample.valid:
            self.invalid += 1
        self._deliver(sample)
        self._deliver_eyes(eyes)

    def _on_lost(self, data: dict) -> None:
        self._set_state(
            SourceState.CONNECTION_LOST,
            "connection_lost",
            "Connection to the eye tracker lost; samples resume when it is restored.",
            t_us=data.get("system_time_stamp"),
        )

    def _on_restored(self, data: dict) -> None:
        self._set_state(
            SourceState.STREAMING,
            "connection_restored",
            "Connection to the eye tracker restored.",
            t_us=data.get("system_time_stamp"),
        )
