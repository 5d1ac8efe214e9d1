"""What can record gaze here, for the GUI's tracker picker, and the state line of a running source.

:func:`list_sources` asks each kind once: Tobii trackers (through TittaPy, or the Tobii Pro SDK on
Python 3.10), LSL gaze streams on the network, the mouse and replay. A kind that cannot record
(library missing, nothing found) is still listed, unavailable, with the reason, so the reader sees
why the tracker on the desk is not offered. :func:`make_source` opens the chosen tracker or
stream; the GUI builds the mouse and replay sources itself (they need Qt and the open study).

:class:`SourceMonitor` watches a running source for its state line: connected or not, the
frequency measured from the samples' own timestamps, and how long ago the last sample arrived.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import ModuleType

from ml.gaze.sources.base import GazeSource, SourceError, SourceEvent, SourceState, SourceUnavailable
from ml.gaze.sources.lsl import (
    ChannelMap,
    LslSource,
    LslStream,
    channel_map_for,
    find_gaze_streams,
    load_pylsl,
)
from ml.gaze.sources.titta import DEFAULT_SCREEN, TittaSource, find_titta_trackers, load_titta
from ml.gaze.sources.tobii import NO_TRACKER, ScreenRect, TobiiSource, TrackerInfo, find_trackers, load_sdk
from ml.types import GazeSample


class SourceKind(str, enum.Enum):
    TOBII = "tobii"
    LSL = "lsl"
    MOUSE = "mouse"
    REPLAY = "replay"


@dataclass(frozen=True)
class SourceChoice:
    """One row of the picker: what it is, whether it can record, and why not."""

    kind: SourceKind
    label: str
    detail: str = ""
    available: bool = True
    message: str = ""  # why it cannot record ('' when it can)
    key: str = ""  # tracker address or LSL source id
    nominal_hz: float = math.nan
    backend: str = ""  # titta | tobii-research | lsl
    stream: LslStream | None = None
    tracker: TrackerInfo | None = None
    frequency: float | None = None  # a Tobii tracker's frequency to set (None: as it is)
    tracking_mode: str | None = None  # a Tobii tracker's tracking mode to set (None: as it is)

    @property
    def state_line(self) -> str:
        return self.message if not self.available else self.detail


def _tobii_choices(titta: ModuleType | None, tobii_sdk: ModuleType | None) -> list[SourceChoice]:
    try:
        titta = titta or load_titta()
        found, backend = find_titta_trackers(titta), "titta"
    except SourceUnavailable as titta_missing:
        try:
            sdk = tobii_sdk or load_sdk()
        except SourceUnavailable:
            return [SourceChoice(SourceKind.TOBII, "Tobii eye tracker", available=False, message=str(titta_missing))]
        found, backend = find_trackers(sdk), "tobii-research"
    except Exception as exc:  # noqa: BLE001 - discovery failing is a state to show, not a crash
        return [SourceChoice(SourceKind.TOBII, "Tobii eye tracker", available=False, message=f"Tobii discovery failed: {exc}")]
    if not found:
        return [SourceChoice(SourceKind.TOBII, "Tobii eye tracker", available=False, message=NO_TRACKER, backend=backend)]
    out = []
    for t in found:
        hz = f"{t.frequency:g} Hz" if math.isfinite(t.frequency) else "frequency unknown"
        mode = f", {t.tracking_mode}" if t.tracking_mode else ""
        out.append(
            SourceChoice(
                SourceKind.TOBII,
                f"{t.model} ({t.serial_number})",
                f"connected · {hz}{mode} · {t.address}",
                key=t.address,
                nominal_hz=t.frequency,
                backend=backend,
                tracker=t,
            )
        )
    return out


def _lsl_choices(wait_s: float, pylsl: ModuleType | None) -> list[SourceChoice]:
    try:
        streams = find_gaze_streams(wait_s, pylsl=pylsl or load_pylsl())
    except SourceUnavailable as exc:
        return [SourceChoice(SourceKind.LSL, "LSL gaze stream", available=False, message=str(exc), backend="lsl")]
    except Exception as exc:  # noqa: BLE001
        return [SourceChoice(SourceKind.LSL, "LSL gaze stream", available=False, message=f"LSL discovery failed: {exc}")]
    if not streams:
        return [
            SourceChoice(
                SourceKind.LSL,
                "LSL gaze stream",
                available=False,
                message=f"No LSL stream of type Gaze found in {wait_s:g} s: start the tracker's LSL app.",
                backend="lsl",
            )
        ]
    return [
        SourceChoice(
            SourceKind.LSL,
            f"{s.name} (LSL)",
            f"streaming · {s.channel_count} channels · "
            + (f"{s.nominal_srate:g} Hz" if s.nominal_srate > 0 else "irregular rate")
            + f" · on {s.hostname}",
            key=s.source_id,
            nominal_hz=s.nominal_srate,
            backend="lsl",
            stream=s,
        )
        for s in streams
    ]


def list_sources(
    *,
    lsl_wait_s: float = 1.0,
    titta: ModuleType | None = None,
    tobii_sdk: ModuleType | None = None,
    pylsl: ModuleType | None = None,
) -> list[SourceChoice]:
    """Every source the picker offers, trackers first; blocks up to ``lsl_wait_s`` (run it off
    the GUI thread)."""
    return [
        *_tobii_choices(titta, tobii_sdk),
        *_lsl_choices(lsl_wait_s, pylsl),
        SourceChoice(SourceKind.MOUSE, "Mouse", "gaze follows the cursor (for trying the workstation)"),
        SourceChoice(SourceKind.REPLAY, "Replay", "the study's recorded reading, faster than real time"),
    ]


def make_source(
    choice: SourceChoice,
    *,
    screen: ScreenRect | tuple[float, float, float, float] = DEFAULT_SCREEN,
    channel_maps: dict[str, ChannelMap] | None = None,
    titta: ModuleType | None = None,
    tobii_sdk: ModuleType | None = None,
    pylsl: ModuleType | None = None,
) -> GazeSource:
    """Open the chosen tracker or stream (not connected yet: ``start`` connects). An LSL stream
    uses its configured channel map from ``channel_maps`` when there is one."""
    if not choice.available:
        raise SourceError(choice.message or f"{choice.label} cannot record here")
    if choice.kind == SourceKind.TOBII:
        if choice.backend == "tobii-research":
            return TobiiSource(choice.key or None, screen, frequency=choice.frequency, sdk=tobii_sdk)
        return TittaSource(
            choice.key or None, screen, frequency=choice.frequency, tracking_mode=choice.tracking_mode, titta=titta
        )
    if choice.kind == SourceKind.LSL:
        channels = channel_map_for(choice.stream, channel_maps or {}) if choice.stream else None
        return LslSource(choice.stream or (choice.key or None), channels=channels, screen=screen, pylsl=pylsl)
    raise SourceError(f"the GUI builds the {choice.kind.value} source")


def default_tobii_source(screen: ScreenRect | tuple[float, float, float, float]) -> GazeSource:
    """The Tobii source whose library sees a tracker: TittaPy first (the workstation's Python),
    then the Tobii Pro SDK (a Python 3.10 set-up); with no tracker seen, TittaPy's source (it says
    "no tracker found" on start), or the SDK's when only it is installed."""
    for cls, find in ((TittaSource, find_titta_trackers), (TobiiSource, find_trackers)):
        if cls.is_available():
            try:
                if find():
                    return cls(screen=screen)
            except Exception:  # noqa: BLE001 - a discovery failure is the next library's chance
                continue
    if TittaSource.is_available() or not TobiiSource.is_available():
        return TittaSource(screen=screen)
    return TobiiSource(screen=screen)


class SourceMonitor:
    """The state line of a running source; :meth:`on_sample` is called for every sample (any thread).

    Frequency is measured from the last ``window`` samples' own timestamps, so a busy GUI does not
    distort it; the last sample's age is wall-clock since it arrived.
    """

    def __init__(self, source: GazeSource, label: str = "", window: int = 1200) -> None:
        self.source = source
        self.label = label or source.name
        self._t: deque[int] = deque(maxlen=window)
        self._last_arrival: float | None = None
        self._lock = threading.Lock()
        self.last_event: SourceEvent | None = None
        source.add_listener(self._on_event)

    def on_sample(self, sample: GazeSample) -> None:
        self._t.append(sample.t_us)
        self._last_arrival = time.monotonic()

    def _on_event(self, ev: SourceEvent) -> None:
        if ev.kind != "clock":
            self.last_event = ev

    @property
    def frequency_hz(self) -> float:
        t = list(self._t)
        if len(t) < 2 or t[-1] <= t[0]:
            return math.nan
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e6)

    @property
    def last_sample_age_s(self) -> float:
        return math.nan if self._last_arrival is None else time.monotonic() - self._last_arrival

    def state_line(self) -> str:
        st = self.source.state
        word = {
            SourceState.STREAMING: "connected",
            SourceState.CONNECTION_LOST: "connection lost",
            SourceState.ERROR: "error",
            SourceState.FINISHED: "finished",
            SourceState.STOPPED: "stopped",
            SourceState.IDLE: "not started",
        }[st]
        parts = [f"{self.label}: {word}"]
        f = self.frequency_hz
        if math.isfinite(f):
            parts.append(f"{f:.0f} Hz")
        age = self.last_sample_age_s
        if math.isfinite(age):
            parts.append(f"last sample {age * 1e3:.0f} ms ago" if age < 1 else f"last sample {age:.1f} s ago")
        else:
            parts.append("no sample yet")
        if st == SourceState.ERROR and self.last_event is not None:
            parts.append(self.last_event.message)
        return " · ".join(parts)

