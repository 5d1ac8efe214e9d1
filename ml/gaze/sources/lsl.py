"""Any eye tracker that publishes its gaze as a Lab Streaming Layer (LSL) stream.

Tobii (Titta's LSL tools), Pupil Labs (their LSL relay), SR Research EyeLink and others publish
gaze as LSL streams; this source records any of them into the same sessions as the Tobii and
mouse sources. pylsl (MIT, bundles liblsl) is imported lazily.

* **Discovery** (:func:`find_gaze_streams`): every stream on the network whose type is ``Gaze``
  (any case), or whose name is asked for.
* **Channels** (:class:`ChannelMap`): which channel is x, y, each eye's x/y, validity, pupil; x/y
  in screen pixels or normalised to the display (0..1, origin top-left). Configured per stream
  (:func:`load_channel_maps`: a JSON file keyed by stream name or source id), otherwise guessed
  from the stream's channel labels and declared units (``desc/channels/channel/{label,unit}``,
  the XDF gaze meta-data convention). A stream whose
  channel count differs from its map is refused with a message that says both counts.
* **Time**: LSL stamps samples on the sender's ``local_clock``; ``inlet.time_correction()`` is the
  offset to this machine's LSL clock, refreshed every ``correction_every_s``. Our recorder's
  clock is monotonic µs (:func:`~ml.gaze.sources.base.now_us`); the offset between the two clocks
  is measured once at start (zero on Linux, where both are CLOCK_MONOTONIC). Each correction in
  force is reported as a ``clock`` event with the index of the first sample it applies to, so a
  stored session says how every timestamp was made.
* **Loss**: the inlet recovers by itself when the sender comes back; no sample for
  ``lost_after_s`` is reported as ``connection_lost`` (the gap starts at the last sample), the
  next sample as ``connection_restored``.
* **Drops**: liblsl buffers ``max_buflen_s`` seconds inside the inlet, so a busy Python loses
  nothing; the pull thread only converts and hands samples to the sink (which only enqueues).
"""

from __future__ import annotations

import enum
import importlib
import json
import re
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ml.gaze.sources.base import GazeSource, SourceError, SourceState, SourceUnavailable, now_us
from ml.gaze.sources.tobii import BinocularSample, ScreenRect
from ml.types import GazeSample

INSTALL_HINT = "pylsl is not installed: pip install 'gaze2report[trackers]' (or pip install pylsl)."
GAZE_TYPE = "gaze"
DEFAULT_SCREEN = ScreenRect()


class NoStreamFound(SourceError):
    """No LSL stream matches (or none is a gaze stream)."""


class ChannelMismatch(SourceError):
    """The stream's channels do not match its channel map: recording would mislabel gaze."""


def load_pylsl() -> ModuleType:
    """Import pylsl or raise :class:`SourceUnavailable` with the install hint."""
    try:
        return importlib.import_module("pylsl")
    except ImportError as exc:
        raise SourceUnavailable(INSTALL_HINT) from exc
    except (OSError, RuntimeError) as exc:  # liblsl failed to load
        raise SourceUnavailable(f"pylsl could not load liblsl: {exc}") from exc


class Units(str, enum.Enum):
    PIXELS = "pixels"  # screen pixels on the virtual desktop
    NORMALISED = "normalised"  # 0..1 of the tracker's display area, origin top-left


_ROLES = (
    "x",
    "y",
    "valid",
    "pupil",
    "left_x",
    "left_y",
    "left_valid",
    "left_pupil",
    "right_x",
    "right_y",
    "right_valid",
    "right_pupil",
)


@dataclass(frozen=True)
class ChannelMap:
    """Which channel (0-based index) carries what; ``None`` for what the stream does not have.

    A combined point (``x``/``y``) is used as is; without one, the valid eyes are averaged (one
    valid eye → that eye), as for Tobii. A validity channel counts as valid when > 0; without one,
    a sample is valid when its coordinates are finite. ``screen`` turns normalised coordinates
    into pixels (and is ignored for pixels).
    """

    channel_count: int
    x: int | None = None
    y: int | None = None
    valid: int | None = None
    pupil: int | None = None
    left_x: int | None = None
    left_y: int | None = None
    left_valid: int | None = None
    left_pupil: int | None = None
    right_x: int | None = None
    right_y: int | None = None
    right_valid: int | None = None
    right_pupil: int | None = None
    units: Units = Units.PIXELS
    screen: ScreenRect = field(default_factory=ScreenRect)

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", Units(self.units))
        if isinstance(self.screen, (tuple, list)):
            object.__setattr__(self, "screen", ScreenRect(*self.screen))
        if self.channel_count < 1:
            raise ChannelMismatch("a gaze stream needs at least one channel")
        for role in _ROLES:
            i = getattr(self, role)
            if i is not None and not 0 <= i < self.channel_count:
                raise ChannelMismatch(
                    f"channel map puts {role} on channel {i}, but the map has {self.channel_count} channels"
                )
        combined = self.x is not None and self.y is not None
        eyes = [s for s in ("left", "right") if getattr(self, f"{s}_x") is not None]
        if not combined and not eyes:
            raise ChannelMismatch("channel map has no gaze position: give x and y, or an eye's x and y")
        for a, b in (("x", "y"), ("left_x", "left_y"), ("right_x", "right_y")):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                raise ChannelMismatch(f"channel map gives {a if getattr(self, a) is not None else b} without its pair")

    @property
    def binocular(self) -> bool:
        return self.left_x is not None and self.right_x is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["units"] = self.units.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChannelMap:
        d = dict(d)
        if isinstance(d.get("screen"), dict):
            d["screen"] = ScreenRect(**d["screen"])
        return cls(**d)

    @classmethod
    def from_labels(
        cls, labels: list[str], *, units: Units | str | None = None, screen: ScreenRect = DEFAULT_SCREEN
    ) -> ChannelMap:
        """Guess the map from channel labels (e.g. ``left_gaze_x``, ``LeftPupil``, ``norm_pos_x``).

        Units: normalised when labels say so (``norm``, ``display_area``) or ``units`` says so.
        Raises :class:`ChannelMismatch` when no position can be recognised.
        """
        roles: dict[str, int] = {}
        said_norm = False
        for i, raw in enumerate(labels):
            role = _label_role(raw)
            if role is not None and role not in roles:
                roles[role] = i
            said_norm |= bool(re.search(r"norm|display_?area", raw.lower()))
        chosen = Units(units) if units is not None else (Units.NORMALISED if said_norm else Units.PIXELS)
        try:
            return cls(len(labels), units=chosen, screen=screen, **roles)
        except ChannelMismatch as exc:
            raise ChannelMismatch(
                f"cannot tell gaze channels from the labels {labels}: give a channel map ({exc})"
            ) from None


def _label_role(label: str) -> str | None:
    """'LeftGazeX' / 'left_gaze_point_on_display_area_x' / 'norm_pos_x' / 'pupil_left' → role."""
    s = re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z])([A-Z])", r"\1_\2", label).lower()).strip("_")
    words = set(s.split("_"))
    side = "left" if words & {"left", "l", "eye0"} else "right" if words & {"right", "r", "eye1"} else ""
    if words & {"pupil", "diameter", "pupilsize", "pupil_size"} or s.startswith("diameter"):
        kind = "pupil"
    elif words & {"valid", "validity", "confidence"}:
        kind = "valid"
    elif s.endswith("_x") or s == "x" or "x" in words:
        kind = "x"
    elif s.endswith("_y") or s == "y" or "y" in words:
        kind = "y"
    else:
        return None
    if words & {"origin", "3d", "z"} and kind in ("x", "y"):
        return None  # eye position in space, not gaze on the screen
    return f"{side}_{kind}" if side else kind


@dataclass(frozen=True)
class LslStream:
    """What discovery tells about a stream (for the picker and to open it)."""

    name: str
    type: str
    source_id: str
    hostname: str
    channel_count: int
    nominal_srate: float
    channel_format: str
    uid: str
    labels: tuple[str, ...] = ()
    units: tuple[str, ...] = ()  # each channel's declared unit ('' when not said)

    @property
    def position_units(self) -> Units | None:
        """The unit the stream declares for its x/y channels (pixels or normalised), if it does."""
        said = set()
        for label, unit in zip(self.labels, self.units, strict=False):
            role = _label_role(label) or ""
            if role.endswith(("x", "y")) and unit:
                said.add(unit.lower())
        if said and said <= {"pixels", "pixel", "px"}:
            return Units.PIXELS
        if said and said <= {"normalized", "normalised", "norm"}:
            return Units.NORMALISED
        return None

    @property
    def label(self) -> str:
        rate = f"{self.nominal_srate:g} Hz" if self.nominal_srate > 0 else "irregular rate"
        return f"{self.name} ({self.type}, {self.channel_count} ch, {rate}, on {self.hostname})"


_FORMATS = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8", 7: "int64"}


def _channels(info: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Labels and units from the stream's ``desc/channels/channel`` (empty when not all described)."""
    labels, units = [], []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        units.append(ch.child_value("unit"))
        ch = ch.next_sibling()
    if len(labels) != info.channel_count():
        return (), ()
    return tuple(labels), tuple(units)


def _describe(info: Any) -> LslStream:
    return LslStream(
        info.name(),
        info.type(),
        info.source_id(),
        info.hostname(),
        int(info.channel_count()),
        float(info.nominal_srate()),
        _FORMATS.get(int(info.channel_format()), str(info.channel_format())),
        info.uid(),
        *_channels(info),
    )


def find_gaze_streams(
    wait_s: float = 1.0, *, name: str | None = None, pylsl: ModuleType | None = None
) -> list[LslStream]:
    """Gaze streams on the network: type ``Gaze`` (any case), or named ``name`` (any type)."""
    lsl = pylsl or load_pylsl()
    found = lsl.resolve_streams(wait_time=wait_s)
    out = []
    for info in found:
        if (name is not None and name in (info.name(), info.source_id())) or (
            name is None and info.type().lower() == GAZE_TYPE
        ):
            out.append(_describe(info))
    out.sort(key=lambda s: (s.name, s.source_id))
    return out


def load_channel_maps(path: str | Path) -> dict[str, ChannelMap]:
    """Per-stream channel maps from a JSON file ``{"<stream name or source id>": {map}, ...}``
    (each map as :meth:`ChannelMap.to_dict` writes it); no file, no maps."""
    p = Path(path)
    if not p.is_file():
        return {}
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        return {str(k): ChannelMap.from_dict(v) for k, v in raw.items()}
    except ChannelMismatch as exc:
        raise ChannelMismatch(f"{p.name}: {exc}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise ChannelMismatch(f"{p.name} is not a valid channel-map file: {exc}") from None


def channel_map_for(stream: LslStream, maps: dict[str, ChannelMap]) -> ChannelMap | None:
    """The configured map of a stream: by source id first (stable across renames), then by name."""
    return maps.get(stream.source_id) or maps.get(stream.name)


def _clock_offset_us(lsl: ModuleType) -> int:
    """Our monotonic µs minus LSL's local_clock µs, bracketed tightly (the best of 5 tries)."""
    best = None
    for _ in range(5):
        a = now_us()
        c = lsl.local_clock()
        b = now_us()
        if best is None or b - a < best[0]:
            best = (b - a, (a + b) / 2.0 - c * 1e6)
    return int(round(best[1]))


class LslSource(GazeSource):
    """Record an LSL gaze stream.

    ``stream`` is a name or source id (or an :class:`LslStream` from discovery; default: the first
    ``Gaze`` stream). ``channels`` is the :class:`ChannelMap` (default: guessed from the stream's
    labels, with ``units``/``screen``). ``lost_after_s``: silence reported as connection lost
    (default: 30 sample intervals, at least 0.5 s; 2 s for irregular streams).
    """

    name = "lsl"

    def __init__(
        self,
        stream: str | LslStream | None = None,
        *,
        channels: ChannelMap | None = None,
        units: Units | str | None = None,
        screen: ScreenRect | tuple[float, float, float, float] = DEFAULT_SCREEN,
        resolve_timeout_s: float = 2.0,
        lost_after_s: float | None = None,
        correction_every_s: float = 5.0,
        max_buflen_s: int = 360,
        chunk: int = 1024,
        pylsl: ModuleType | None = None,
    ) -> None:
        super().__init__()
        self.stream = stream
        self.channels = channels
        self.units = units
        self.screen = screen if isinstance(screen, ScreenRect) else ScreenRect(*screen)
        self.resolve_timeout_s = float(resolve_timeout_s)
        self.lost_after_s = lost_after_s
        self.correction_every_s = float(correction_every_s)
        self.max_buflen_s = int(max_buflen_s)
        self.chunk = int(chunk)
        self._lsl = pylsl
        self.info: LslStream | None = None
        self.inlet: Any = None
        self.correction_s = 0.0
        self.offset_us = 0
        self.clock_log: list[dict[str, Any]] = []  # each correction in force, from which sample on
        self.last_sample_us: int | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    # ----------------------------------------------------------------- availability
    @classmethod
    def load_library(cls) -> None:
        load_pylsl()

    @property
    def pylsl(self) -> ModuleType:
        if self._lsl is None:
            self._lsl = load_pylsl()
        return self._lsl

    @property
    def stream_label(self) -> str:
        if isinstance(self.stream, LslStream):
            return self.stream.name
        return self.stream or f"type {GAZE_TYPE!r}"

    # ----------------------------------------------------------------- life cycle
    def _resolve(self) -> Any:
        lsl = self.pylsl
        want = self.stream.source_id if isinstance(self.stream, LslStream) else self.stream
        deadline = time.monotonic() + self.resolve_timeout_s
        while True:
            for info in lsl.resolve_streams(wait_time=min(0.5, self.resolve_timeout_s)):
                if want is None and info.type().lower() == GAZE_TYPE:
                    return info
                if want is not None and want in (info.name(), info.source_id()):
                    return info
            if time.monotonic() >= deadline:
                raise NoStreamFound(
                    f"No LSL gaze stream {'named ' + repr(want) if want else 'of type Gaze'} found "
                    f"within {self.resolve_timeout_s:g} s: check that the tracker's LSL app is streaming."
                )

    def _prepare(self) -> None:
        lsl = self.pylsl
        if self.inlet is not None:
            return
        resolved = self._resolve()
        inlet = lsl.StreamInlet(resolved, max_buflen=self.max_buflen_s, recover=True)
        try:
            full = inlet.info(timeout=self.resolve_timeout_s)
        except Exception as exc:  # noqa: BLE001 - liblsl timeouts and lost streams
            raise NoStreamFound(f"LSL stream {resolved.name()!r} did not answer: {exc}") from exc
        info = _describe(full)
        if info.channel_format == "string":
            raise ChannelMismatch(f"LSL stream {info.name!r} carries text, not gaze numbers")
        channels = self.channels
        if channels is None:
            if not info.labels:
                raise ChannelMismatch(
                    f"LSL stream {info.name!r} does not label its {info.channel_count} channels: give a channel map"
                )
            units = self.units if self.units is not None else info.position_units
            channels = ChannelMap.from_labels(list(info.labels), units=units, screen=self.screen)
        if channels.channel_count != info.channel_count:
            raise ChannelMismatch(
                f"LSL stream {info.name!r} has {info.channel_count} channels but its channel map expects "
                f"{channels.channel_count}: refusing to record gaze from the wrong channels"
            )
        self.channels = channels
        self.info = info
        self.inlet = inlet
        # the first correction estimate takes several round trips: before the data flows, so the
        # first samples do not wait for it
        self.offset_us = _clock_offset_us(lsl)
        self.correction_s = float(inlet.time_correction(timeout=self.resolve_timeout_s))
        inlet.open_stream(timeout=self.resolve_timeout_s)

    def _start(self) -> None:
        self._halt.clear()
        self.clock_log = []
        self._log_clock(0)
        self._thread = threading.Thread(target=self._run, name="gaze-lsl", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        inlet, self.inlet = self.inlet, None
        if inlet is not None:
            inlet.close_stream()

    def _log_clock(self, from_sample: int) -> None:
        entry = {"from_sample": int(from_sample), "correction_s": self.correction_s, "offset_us": self.offset_us}
        self.clock_log.append(entry)
        self._set_state(self._state, "clock", f"LSL time correction {self.correction_s * 1e3:.3f} ms", **entry)

    @property
    def _lost_after(self) -> float:
        if self.lost_after_s is not None:
            return float(self.lost_after_s)
        rate = self.info.nominal_srate if self.info else 0.0
        return max(0.5, 30.0 / rate) if rate > 0 else 2.0

    # ----------------------------------------------------------------- pull thread
    def _run(self) -> None:
        inlet, lsl = self.inlet, self.pylsl
        next_correction = time.monotonic() + self.correction_every_s
        last_arrival = time.monotonic()
        lost_after = self._lost_after
        while not self._halt.is_set():
            try:
                data, stamps = inlet.pull_chunk(timeout=0.02, max_samples=self.chunk, min_samples=1, as_numpy=True)
            except lsl.LostError:
                data, stamps = None, ()
            except Exception as exc:  # noqa: BLE001 - anything else ends the stream, said once
                self._set_state(SourceState.ERROR, "error", f"LSL stream {self.stream_label!r} failed: {exc}")
                return
            now = time.monotonic()
            if len(stamps) == 0:
                if self._state == SourceState.STREAMING and now - last_arrival > lost_after:
                    self._set_state(
                        SourceState.CONNECTION_LOST,
                        "connection_lost",
                        f"No samples from LSL stream {self.stream_label!r} for {lost_after:g} s: "
                        "connection lost; recording resumes when it comes back.",
                        t_us=self.last_sample_us,
                        gap_from_us=self.last_sample_us,
                    )
                continue
            last_arrival = now
            if now >= next_correction:
                next_correction = now + self.correction_every_s
                try:
                    corr = float(inlet.time_correction(timeout=0.0))
                except Exception:  # noqa: BLE001 - keep the last estimate
                    corr = self.correction_s
                if corr != self.correction_s:
                    self.correction_s = corr
                    self._log_clock(self.delivered + self.dropped)
            self._emit(np.asarray(data, dtype=np.float64), np.asarray(stamps, dtype=np.float64))

    def _emit(self, data: np.ndarray, stamps: np.ndarray) -> None:
        t_us = np.rint((stamps + self.correction_s) * 1e6).astype(np.int64) + self.offset_us
        if self._state == SourceState.CONNECTION_LOST:
            self._set_state(
                SourceState.STREAMING,
                "connection_restored",
                f"LSL stream {self.stream_label!r} is back.",
                t_us=int(t_us[0]),
                gap_to_us=int(t_us[0]),
            )
        self._deliver_many(*map_chunk(self.channels, data, t_us))
        self.last_sample_us = int(t_us[-1])


def _col(data: np.ndarray, i: int | None) -> np.ndarray | None:
    return None if i is None else data[:, i]


def map_chunk(
    m: ChannelMap, data: np.ndarray, t_us: np.ndarray
) -> tuple[list[GazeSample], list[BinocularSample] | None]:
    """Rows of channel values → combined samples (and per-eye samples for a binocular map)."""
    n = len(t_us)

    def point(xi: int | None, yi: int | None, vi: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = data[:, xi].copy(), data[:, yi].copy()
        if m.units == Units.NORMALISED:
            x = m.screen.x + x * m.screen.width
            y = m.screen.y + y * m.screen.height
        ok = np.isfinite(x) & np.isfinite(y)
        if vi is not None:
            ok &= data[:, vi] > 0
        x[~ok] = np.nan
        y[~ok] = np.nan
        return x, y, ok

    def pupil(pi: int | None, ok: np.ndarray) -> np.ndarray:
        if pi is None:
            return np.full(n, np.nan)
        p = data[:, pi].astype(np.float64)
        return np.where(ok & np.isfinite(p), p, np.nan)

    eyes: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for side in ("left", "right"):
        xi = getattr(m, f"{side}_x")
        if xi is not None:
            x, y, ok = point(xi, getattr(m, f"{side}_y"), getattr(m, f"{side}_valid"))
            eyes[side] = (x, y, ok, pupil(getattr(m, f"{side}_pupil"), ok))
    if m.x is not None:
        x, y, valid = point(m.x, m.y, m.valid)
    else:  # the mean of the valid eyes (invalid eyes are NaN already)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows where no eye is valid
            x = np.nanmean(np.stack([e[0] for e in eyes.values()]), axis=0)
            y = np.nanmean(np.stack([e[1] for e in eyes.values()]), axis=0)
        valid = np.isfinite(x) & np.isfinite(y)
    if m.pupil is not None:
        pup = pupil(m.pupil, valid)
    elif eyes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pup = np.nanmean(np.stack([e[3] for e in eyes.values()]), axis=0)
    else:
        pup = np.full(n, np.nan)
    ts = t_us.tolist()
    samples = [
        GazeSample(t, float(a), float(b), bool(v), float(p))
        for t, a, b, v, p in zip(ts, x.tolist(), y.tolist(), valid.tolist(), pup.tolist(), strict=True)
    ]
    if not m.binocular:
        return samples, None
    lx, ly, lv, lp = eyes["left"]
    rx, ry, rv, rp = eyes["right"]
    per_eye = [
        BinocularSample(t, (a, b), (c, d), e, f, g, h)
        for t, a, b, c, d, e, f, g, h in zip(
            ts, lx.tolist(), ly.tolist(), rx.tolist(), ry.tolist(), lv.tolist(), rv.tolist(), lp.tolist(), rp.tolist(), strict=True
        )
    ]
    return samples, per_eye
