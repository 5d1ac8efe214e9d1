"""Tobii Pro trackers through TittaPy, on the workstation's own Python (the default Tobii source).

TittaPy (``pip install 'gaze2report[trackers]'``) is the Python face of Titta, the toolbox eye
tracking researchers use with Tobii; its wheels bundle the Tobii Pro SDK 2.x (``TittaPy_v2``,
current trackers) and 1.x (``TittaPy_v1``, older ones) libraries. The ``tobii-research`` path
(:mod:`ml.gaze.sources.tobii`, Python 3.10 only) stays behind the same interface.

Why Titta's buffers rather than SDK callbacks: Titta's C++ side receives every sample into a
buffer while Python is busy (a garbage collection, the GIL held by the GUI); a drain thread
consumes the buffer every ``poll_s`` and hands the samples to the sink. Nothing is lost as long
as the buffer is drained before it grows past memory (hours at 1,200 Hz).

Mapping of one Titta gaze row (``consume_N('gaze')`` gives columns):

* ``{left,right}_gaze_point_on_display_area_{x,y}`` (normalised to the display area) → screen
  pixels through :class:`~ml.gaze.sources.tobii.ScreenRect`; an eye counts when
  ``*_gaze_point_valid`` and its point is finite.
* the combined sample is the mean of the valid eyes (one valid eye → that eye; none → a gap);
  its pupil is the mean of the valid pupils (mm); ``system_time_stamp`` (µs, this computer's
  monotonic clock, the same as :func:`~ml.gaze.sources.base.now_us`) is the sample time and
  ``device_time_stamp`` is kept.
* both eyes go to the binocular listeners (:class:`~ml.gaze.sources.eyes.EyeLog` keeps them with
  the session; validation measures each eye).
* the ``notification`` stream's ``connection_lost`` / ``connection_restored`` become source events.
"""

from __future__ import annotations

import importlib
import math
import threading
from types import ModuleType
from typing import Any

import numpy as np

from ml.gaze.sources.base import GazeSource, SourceError, SourceState, SourceUnavailable
from ml.gaze.sources.tobii import BinocularSample, NoTrackerFound, ScreenRect, TrackerInfo
from ml.types import GazeSample

TITTA_MODULE = "TittaPy_v2"  # Tobii Pro SDK 2.x; "TittaPy_v1" for trackers the 2.x SDK dropped
INSTALL_HINT = "TittaPy is not installed: pip install 'gaze2report[trackers]' (or pip install tittapy==2.1.0)."
NO_TRACKER = (
    "No Tobii eye tracker found: check that it is connected and powered on, "
    "and that Tobii Pro Eye Tracker Manager can see it."
)
DEFAULT_SCREEN = ScreenRect()


def load_titta(module: str = TITTA_MODULE) -> ModuleType:
    """Import TittaPy (``TittaPy_v2`` by default) or raise :class:`SourceUnavailable`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SourceUnavailable(INSTALL_HINT) from exc
    except OSError as exc:  # the bundled Tobii library failed to load
        raise SourceUnavailable(f"TittaPy could not load the Tobii Pro SDK library: {exc}") from exc


def _name(v: Any) -> str:
    """A pybind11 enum value (``notification_type.connection_lost``) or a string → 'connection_lost'."""
    return str(getattr(v, "name", v))


def _info(d: Any) -> TrackerInfo:
    get = d.get if isinstance(d, dict) else lambda k, default=None: getattr(d, k, default)
    return TrackerInfo(
        str(get("address", "")),
        str(get("model", "")),
        str(get("device_name", "")),
        str(get("serial_number", "")),
        float(get("frequency", math.nan) or math.nan),
        str(get("tracking_mode", "") or ""),
        tuple(float(f) for f in get("supported_frequencies", ()) or ()),
        tuple(str(m) for m in get("supported_modes", ()) or ()),
    )


def find_titta_trackers(titta: ModuleType | None = None) -> list[TrackerInfo]:
    """Trackers TittaPy can see (empty list when none)."""
    titta = titta or load_titta()
    return [_info(d) for d in titta.find_all_eye_trackers()]


def map_titta_gaze(cols: dict[str, Any], screen: ScreenRect) -> tuple[list[GazeSample], list[BinocularSample]]:
    """Titta's gaze columns → combined samples and per-eye samples (pure function)."""
    t = np.asarray(cols["system_time_stamp"], dtype=np.int64)
    dev = np.asarray(cols["device_time_stamp"], dtype=np.int64)
    eyes = {}
    for side in ("left", "right"):
        nx = np.asarray(cols[f"{side}_gaze_point_on_display_area_x"], dtype=np.float64)
        ny = np.asarray(cols[f"{side}_gaze_point_on_display_area_y"], dtype=np.float64)
        ok = np.asarray(cols[f"{side}_gaze_point_valid"], dtype=bool) & np.isfinite(nx) & np.isfinite(ny)
        px = np.where(ok, screen.x + nx * screen.width, np.nan)
        py = np.where(ok, screen.y + ny * screen.height, np.nan)
        pupil = np.asarray(cols[f"{side}_pupil_diameter"], dtype=np.float64)
        pok = np.asarray(cols[f"{side}_pupil_valid"], dtype=bool) & np.isfinite(pupil)
        eyes[side] = (px, py, ok, np.where(pok, pupil, np.nan))
    (lx, ly, lv, lp), (rx, ry, rv, rp) = eyes["left"], eyes["right"]
    both = lv & rv
    x = np.where(both, (lx + rx) / 2.0, np.where(lv, lx, rx))
    y = np.where(both, (ly + ry) / 2.0, np.where(lv, ly, ry))
    npup = np.isfinite(lp).astype(int) + np.isfinite(rp)
    pup = np.where(npup > 0, (np.nan_to_num(lp) + np.nan_to_num(rp)) / np.maximum(npup, 1), np.nan)
    valid = lv | rv
    ts, ds = t.tolist(), dev.tolist()
    samples = [
        GazeSample(a, b, c, d, e, f)
        for a, b, c, d, e, f in zip(ts, x.tolist(), y.tolist(), valid.tolist(), pup.tolist(), ds, strict=True)
    ]
    per_eye = [
        BinocularSample(a, (b, c), (d, e), f, g, h, i, j)
        for a, b, c, d, e, f, g, h, i, j in zip(
            ts,
            lx.tolist(),
            ly.tolist(),
            rx.tolist(),
            ry.tolist(),
            lv.tolist(),
            rv.tolist(),
            lp.tolist(),
            rp.tolist(),
            ds,
            strict=True,
        )
    ]
    return samples, per_eye


class TittaSource(GazeSource):
    """A Tobii Pro screen-based tracker through TittaPy.

    ``address`` picks a tracker (default: the first found); ``screen`` is the display area's pixel
    rectangle; ``frequency`` (Hz) and ``tracking_mode`` are set on the tracker when given (and
    checked against what it supports); ``titta`` injects a module (tests pass a fake; by default
    ``TittaPy_v2`` is imported on start). ``poll_s`` is how often the buffers are drained.
    """

    name = "tobii"
    backend = "titta"

    def __init__(
        self,
        address: str | None = None,
        screen: ScreenRect | tuple[float, float, float, float] = DEFAULT_SCREEN,
        *,
        frequency: float | None = None,
        tracking_mode: str | None = None,
        titta: ModuleType | None = None,
        poll_s: float = 0.005,
    ) -> None:
        super().__init__()
        self.address = address
        self.screen = screen if isinstance(screen, ScreenRect) else ScreenRect(*screen)
        self.frequency = frequency
        self.tracking_mode = tracking_mode
        self.poll_s = float(poll_s)
        self._titta = titta
        self.tracker: Any = None
        self.info: TrackerInfo | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    @classmethod
    def load_library(cls) -> None:
        load_titta()

    @property
    def titta(self) -> ModuleType:
        if self._titta is None:
            self._titta = load_titta()
        return self._titta

    def clock_us(self) -> int:
        return int(self.titta.get_system_timestamp())

    # ----------------------------------------------------------------- connection
    def connect(self) -> Any:
        """Find and open the tracker (idempotent); raises NoTrackerFound when there is none."""
        if self.tracker is not None:
            return self.tracker
        titta = self.titta
        address = self.address
        if not address:
            found = titta.find_all_eye_trackers()
            if not found:
                raise NoTrackerFound(NO_TRACKER)
            address = _info(found[0]).address
        try:
            et = titta.EyeTracker(address)
        except Exception as exc:  # noqa: BLE001 - Titta raises RuntimeError with the SDK's status
            raise NoTrackerFound(f"Cannot connect to the Tobii tracker at {address}: {exc}") from exc
        if self.frequency:
            supported = [float(f) for f in et.supported_frequencies]
            if supported and float(self.frequency) not in supported:
                raise SourceError(
                    f"The tracker runs at {', '.join(f'{f:g}' for f in supported)} Hz, not {self.frequency:g} Hz"
                )
            try:
                et.frequency = float(self.frequency)
            except Exception as exc:  # noqa: BLE001
                raise SourceError(f"The tracker refused {self.frequency:g} Hz: {exc}") from exc
        if self.tracking_mode:
            modes = [str(m) for m in et.supported_modes]
            if modes and self.tracking_mode not in modes:
                raise SourceError(f"The tracker's tracking modes are {', '.join(modes)}, not {self.tracking_mode!r}")
            try:
                et.tracking_mode = self.tracking_mode
            except Exception as exc:  # noqa: BLE001
                raise SourceError(f"The tracker refused tracking mode {self.tracking_mode!r}: {exc}") from exc
        self.tracker = et
        self.info = TrackerInfo(
            et.address,
            et.model,
            et.device_name,
            et.serial_number,
            float(et.frequency),
            str(et.tracking_mode),
            tuple(float(f) for f in et.supported_frequencies),
            tuple(str(m) for m in et.supported_modes),
        )
        return et

    def _prepare(self) -> None:
        self.connect()

    # ----------------------------------------------------------------- streaming
    def _start(self) -> None:
        et = self.tracker
        self._halt.clear()
        if not et.start("notification"):
            raise SourceError("The tracker did not start its notification stream")
        if not et.start("gaze"):
            et.stop("notification")
            raise SourceError("The tracker did not start its gaze stream")
        self._thread = threading.Thread(target=self._run, name="gaze-titta", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        et = self.tracker
        if et is None:
            return
        et.stop("gaze", False)
        self._drain()  # what arrived between the last poll and the stop
        et.stop("notification", True)
        et.clear("gaze")

    def _run(self) -> None:
        while not self._halt.wait(self.poll_s):
            try:
                self._drain()
            except Exception as exc:  # noqa: BLE001 - the tracker went away mid-call
                self._set_state(SourceState.ERROR, "error", f"Reading the Tobii tracker failed: {exc}")
                return

    def _drain(self) -> None:
        et = self.tracker
        notes = et.consume_N("notification")
        for t, kind in zip(notes.get("system_time_stamp", ()), notes.get("notification_type", ()), strict=False):
            kind = _name(kind)
            if kind == "connection_lost":
                self._set_state(
                    SourceState.CONNECTION_LOST,
                    "connection_lost",
                    "Connection to the eye tracker lost; samples resume when it is restored.",
                    t_us=int(t),
                )
            elif kind == "connection_restored":
                self._set_state(
                    SourceState.STREAMING, "connection_restored", "Connection to the eye tracker restored.", t_us=int(t)
                )
        cols = et.consume_N("gaze")
        if len(cols.get("system_time_stamp", ())) == 0:
            return
        self._deliver_many(*map_titta_gaze(cols, self.screen))
