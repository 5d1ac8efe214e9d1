"""Replay recorded gaze as a live source: a stored session, a REFLACX or cohort ``gaze.csv``, or an
EGD-CXR ``eye_gaze.csv``.

Replay feeds the same path a tracker does (sink → recorder → database), at real speed
(``speed=1``), accelerated (``speed=20``) or as fast as the sink takes it (``speed=math.inf``).
Sample values and timestamps are emitted exactly as stored, so a replay recorded into a new
session reproduces the original samples bit for bit. Replays also carry the viewer's state: each
:class:`~ml.gaze.geometry.Viewport` is handed to ``on_viewport`` (the recorder's ``log_viewport``)
when its time comes, before the samples it applies to.

Files in image pixels (REFLACX/cohort ``gaze.csv``) are put on a screen: through the per-row
display columns REFLACX writes (which part of the image was shown where on screen), or, where
they are missing, by fitting the image into ``view_rect`` as the viewer does.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ml.gaze.geometry import Viewport
from ml.gaze.sources.base import GazeSource, SourceError, SourceState
from ml.types import GazeSample

#: Samples emitted between clock checks when replaying faster than real time.
_CHUNK = 256


@dataclass
class ReplayData:
    """What a replay plays: samples (screen px, µs), viewports, and the reading's time origin."""

    samples: list[GazeSample]
    viewports: list[Viewport]
    origin_us: int
    image_size: tuple[int, int] | None = None
    label: str = ""


class ReplaySource(GazeSource):
    """Play samples (and viewport changes) in time order from a thread.

    ``speed`` multiplies real time (``math.inf``: no waiting). ``on_viewport`` receives each
    Viewport at its time. ``origin_us`` is the reading's time origin on the samples' clock
    (exports measure seconds from it); the recorder stores it with the session.
    """

    name = "replay"

    def __init__(
        self,
        samples: Sequence[GazeSample],
        *,
        speed: float = 1.0,
        viewports: Sequence[Viewport] = (),
        on_viewport: Callable[[Viewport], Any] | None = None,
        origin_us: int | None = None,
        label: str = "",
    ) -> None:
        super().__init__()
        if not speed > 0:
            raise SourceError(f"replay speed must be > 0, got {speed}")
        self.samples = list(samples)
        t = [s.t_us for s in self.samples]
        if any(b < a for a, b in zip(t, t[1:], strict=False)):
            raise SourceError("replay samples must be in time order")
        self.speed = float(speed)
        self.viewports = sorted(viewports, key=lambda v: v.t_us)
        self.on_viewport = on_viewport
        self.origin_us = int(origin_us if origin_us is not None else (t[0] if t else 0))
        self.label = label
        self.position = 0  # samples emitted so far
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_data(cls, data: ReplayData, **kwargs: Any) -> ReplaySource:
        kwargs.setdefault("label", data.label)
        return cls(data.samples, viewports=data.viewports, origin_us=data.origin_us, **kwargs)

    @classmethod
    def from_session(cls, db: str | Path, session_id: int, **kwargs: Any) -> ReplaySource:
        """Replay a stored session (samples and viewport log)."""
        return cls.from_data(load_session(db, session_id), **kwargs)

    @classmethod
    def from_egd_gaze(cls, path: str | Path, dicom_id: str, **kwargs: Any) -> ReplaySource:
        """Replay one image of an EGD-CXR ``eye_gaze.csv`` (see :func:`load_egd_gaze`)."""
        load_keys = ("image_size", "pads", "screen", "origin_us")
        load_kw = {k: kwargs.pop(k) for k in load_keys if k in kwargs}
        return cls.from_data(load_egd_gaze(path, dicom_id, **load_kw), **kwargs)

    @classmethod
    def from_gaze_csv(cls, path: str | Path, **kwargs: Any) -> ReplaySource:
        """Replay a REFLACX or cohort ``gaze.csv`` (see :func:`load_gaze_csv` for the options)."""
        load_keys = ("image_size", "image_id", "view_rect", "origin_us")
        load_kw = {k: kwargs.pop(k) for k in load_keys if k in kwargs}
        return cls.from_data(load_gaze_csv(path, **load_kw), **kwargs)

    # ------------------------------------------------------------------ life cycle
    def _start(self) -> None:
        self._halt.clear()
        self.position = 0
        self._thread = threading.Thread(target=self._run, name="gaze-replay", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the replay has emitted everything (or was stopped); True when finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._state == SourceState.FINISHED

    @property
    def duration_s(self) -> float:
        if not self.samples:
            return 0.0
        return (self.samples[-1].t_us - self.samples[0].t_us) / 1e6

    def _run(self) -> None:
        samples, vps = self.samples, self.viewports
        n, nv = len(samples), len(vps)
        if n == 0 and nv == 0:
            self._set_state(SourceState.FINISHED, "finished", "nothing to replay")
            return
        t_first = min(samples[0].t_us if n else vps[0].t_us, vps[0].t_us if nv else samples[0].t_us)
        wall0 = time.perf_counter()
        fast = math.isinf(self.speed)
        i = j = 0
        while i < n or j < nv:
            if self._halt.is_set():
                return
            due = math.inf if fast else t_first + (time.perf_counter() - wall0) * self.speed * 1e6
            emitted = 0
            while (i < n or j < nv) and emitted < _CHUNK:
                # viewport changes go first: they apply to samples at and after their time
                if j < nv and (i >= n or vps[j].t_us <= samples[i].t_us):
                    if vps[j].t_us > due:
                        break
                    if self.on_viewport is not None:
                        self.on_viewport(vps[j])
                    j += 1
                    continue
                if samples[i].t_us > due:
                    break
                self._deliver(samples[i])
                i += 1
                emitted += 1
            self.position = i
            if fast:
                continue
            if emitted < _CHUNK:
                nxt = min(
                    samples[i].t_us if i < n else math.inf,
                    vps[j].t_us if j < nv else math.inf,
                )
                if nxt == math.inf:
                    break
                delay = (nxt - t_first) / (self.speed * 1e6) - (time.perf_counter() - wall0)
                if delay > 0 and self._halt.wait(min(delay, 0.05)):
                    return
        self.position = i
        self._set_state(SourceState.FINISHED, "finished", f"replayed {i} samples")


# ---------------------------------------------------------------------- loaders


def load_session(db: str | Path, session_id: int) -> ReplayData:
    """Samples, viewports and time origin of a stored session."""
    from ml.gaze.recorder import session_viewports
    from ml.store.db import Store

    with Store(db, read_only=True) as store:
        rec = store.session(session_id)
        block = store.samples(session_id)
        vps = session_viewports(store, session_id)
    samples = block.to_samples()
    origin = rec.t0_us if rec.t0_us is not None else (samples[0].t_us if samples else 0)
    size = vps[0].image_size if vps else None
    return ReplayData(samples, vps, int(origin), size, f"session {session_id}")


_SHOWN = ("xmin_shown_from_image", "ymin_shown_from_image", "xmax_shown_from_image", "ymax_shown_from_image")
_SCREEN = (
    "xmin_in_screen_coordinates",
    "ymin_in_screen_coordinates",
    "xmax_in_screen_coordinates",
    "ymax_in_screen_coordinates",
)


def load_gaze_csv(
    path: str | Path,
    *,
    image_size: tuple[int, int] | None = None,
    image_id: str | None = None,
    view_rect: tuple[float, float, float, float] = (0.0, 0.0, 1920.0, 1080.0),
    origin_us: int = 0,
) -> ReplayData:
    """A REFLACX/cohort ``gaze.csv`` (image pixels, seconds) as screen samples plus viewports.

    Where the file has REFLACX's display columns (part of the image shown and where on screen),
    each distinct display state becomes a Viewport and samples go through it; otherwise the image
    is fitted into ``view_rect``. Sample times become ``origin_us + round(t * 1e6)`` µs. The
    image size defaults to the largest ``*max_shown_from_image`` (the whole image shown).
    """
    from ml.gaze.io import read_gaze

    track = read_gaze(path)
    n = len(track)
    if n == 0:
        raise SourceError(f"{Path(path).name}: no samples to replay")
    if np.any(np.diff(track.t) < 0):
        raise SourceError(f"{Path(path).name}: timestamps go backwards")
    cols = track.columns
    t_us = origin_us + np.rint(track.t * 1e6).astype(np.int64)
    if image_size is None:
        if all(c in cols for c in _SHOWN[2:]) and np.isfinite(cols[_SHOWN[2]]).any():
            image_size = (
                int(math.ceil(np.nanmax(cols[_SHOWN[2]]))),
                int(math.ceil(np.nanmax(cols[_SHOWN[3]]))),
            )
        else:
            raise SourceError(f"{Path(path).name}: pass image_size (the file does not say what was shown)")
    w, h = int(image_size[0]), int(image_size[1])
    image_id = image_id or Path(path).parent.name or "image"

    has_display = all(c in cols for c in _SHOWN + _SCREEN)
    has_window = "window_width" in cols and "window_level" in cols
    if has_display:
        table = np.column_stack([cols[c] for c in _SHOWN + _SCREEN])
        ok = np.all(np.isfinite(table), axis=1)
        ok &= (table[:, 2] > table[:, 0]) & (table[:, 3] > table[:, 1])
        ok &= (table[:, 6] > table[:, 4]) & (table[:, 7] > table[:, 5])
        table[~ok] = 0.0  # one "not known" state, so unknown rows do not all differ (NaN != NaN)
    else:
        table = np.zeros((n, 8))
        ok = np.zeros(n, dtype=bool)
    window = np.column_stack([cols["window_level"], cols["window_width"]]) if has_window else np.zeros((n, 2))
    key = np.nan_to_num(np.column_stack([table, window]), nan=-1e300)
    change = np.ones(n, dtype=bool)
    change[1:] = np.any(key[1:] != key[:-1], axis=1)
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], n)
    sx = np.empty(n)
    sy = np.empty(n)
    viewports: list[Viewport] = []
    for a, b in zip(starts, ends, strict=True):
        t = int(t_us[a])
        if ok[a]:
            vp = _viewport_from_display(t, image_id, (w, h), table[a])
        else:
            vp = Viewport.fit(t, image_id, (w, h), tuple(view_rect))
        if has_window:
            vp = replace(vp, window_center=float(window[a, 0]), window_width=float(window[a, 1]))
        sx[a:b], sy[a:b] = vp.to_screen(track.x[a:b], track.y[a:b])
        if viewports and viewports[-1].t_us == t:
            viewports[-1] = vp  # two states at one instant: the later one holds
        else:
            viewports.append(vp)
    valid = np.isfinite(sx) & np.isfinite(sy)
    pupil = track.pupil
    samples = [
        GazeSample(int(tk), float(xk), float(yk), bool(vk), float(pk))
        for tk, xk, yk, vk, pk in zip(
            t_us.tolist(), sx.tolist(), sy.tolist(), valid.tolist(), pupil.tolist(), strict=True
        )
    ]
    return ReplayData(samples, viewports, int(origin_us), (w, h), str(path))


def _viewport_from_display(t_us: int, image_id: str, size: tuple[int, int], row: np.ndarray) -> Viewport:
    ix0, iy0, ix1, iy1, sx0, sy0, sx1, sy1 = (float(v) for v in row)
    scale_x = (sx1 - sx0) / (ix1 - ix0)
    scale_y = (sy1 - sy0) / (iy1 - iy0)
    x0 = sx0 - ix0 * scale_x
    y0 = sy0 - iy0 * scale_y
    rect = (x0, y0, x0 + size[0] * scale_x, y0 + size[1] * scale_y)
    return Viewport(t_us, image_id, size, rect, (sx0, sy0, sx1, sy1))


_EGD_TIME = ("Time (in secs)", "TIME (in secs)", "TIME")


def load_egd_gaze(
    path: str | Path,
    dicom_id: str,
    *,
    image_size: tuple[int, int],
    pads: tuple[float, float, float, float] | None = None,
    screen: tuple[int, int] = (1920, 1080),
    origin_us: int = 0,
) -> ReplayData:
    """One image's raw samples from an EGD-CXR (Gazepoint) ``eye_gaze.csv`` as screen samples.

    Samples are Gazepoint's best point of gaze (``BPOGX``/``BPOGY``, normalised to the
    ``screen``; ``BPOGV`` = valid), falling back to ``FPOGX``/``FPOGY``/``FPOGV``. Time 0 is the
    image's first row. Where the image was on screen comes from the master sheet's
    ``image_{top,bottom,left,right}_pad`` (``pads`` in that order); without them it is fitted from
    the rows' ``X_ORIGINAL``/``Y_ORIGINAL`` (image pixels, -1 off the image) against ``FPOGX``/``FPOGY``.
    """
    import csv

    p = Path(path)
    if not p.is_file():
        raise SourceError(f"no such file: {p}")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if "DICOM_ID" not in header:
            raise SourceError(f"{p.name}: no DICOM_ID column (not an EGD-CXR gaze file)")
        j = header.index("DICOM_ID")
        rows = [r for r in reader if len(r) > j and r[j].strip() == dicom_id]
    if not rows:
        raise SourceError(f"{p.name}: no samples for DICOM_ID {dicom_id}")
    col = {name: i for i, name in enumerate(header)}
    tname = next((c for c in _EGD_TIME if c in col), None)
    px, py, pv = ("BPOGX", "BPOGY", "BPOGV") if "BPOGX" in col else ("FPOGX", "FPOGY", "FPOGV")
    if tname is None or px not in col or py not in col:
        raise SourceError(f"{p.name}: needs a time column and {px}/{py}")

    def num(name: str) -> np.ndarray:
        i = col.get(name)
        out = np.full(len(rows), np.nan)
        if i is None:
            return out
        for k, r in enumerate(rows):
            with contextlib.suppress(ValueError, IndexError):
                out[k] = float(r[i])
        return out

    t = num(tname)
    t = t - t[0]
    if np.any(np.diff(t) < 0):
        raise SourceError(f"{p.name}: timestamps of {dicom_id} go backwards")
    sw, sh = screen
    x, y = num(px) * sw, num(py) * sh
    valid = np.isfinite(x) & np.isfinite(y)
    if pv in col:
        valid &= num(pv) != 0
    w, h = int(image_size[0]), int(image_size[1])
    if pads is not None:
        top, bottom, left, right = (float(v) for v in pads)
        rect = (left, top, sw - right, sh - bottom)
    else:
        rect = _fit_image_rect(
            num("FPOGX") * sw, num("FPOGY") * sh, num("X_ORIGINAL"), num("Y_ORIGINAL"), (w, h)
        )
        if rect is None:
            raise SourceError(f"{p.name}: pass pads= (no on-image rows to locate the image for {dicom_id})")
    t_us = origin_us + np.rint(t * 1e6).astype(np.int64)
    vp = Viewport(int(t_us[0]), dicom_id, (w, h), rect, (0.0, 0.0, float(sw), float(sh)))
    x = np.where(valid, x, np.nan)
    y = np.where(valid, y, np.nan)
    samples = [
        GazeSample(int(tk), float(xk), float(yk), bool(vk))
        for tk, xk, yk, vk in zip(t_us.tolist(), x.tolist(), y.tolist(), valid.tolist(), strict=True)
    ]
    return ReplayData(samples, [vp], int(origin_us), (w, h), f"{p} {dicom_id}")


def _fit_image_rect(
    sx: np.ndarray, sy: np.ndarray, ix: np.ndarray, iy: np.ndarray, size: tuple[int, int]
) -> tuple[float, float, float, float] | None:
    """Least-squares image = a * screen + b per axis (rows on the image), as a screen rectangle."""
    ok = np.isfinite(sx) & np.isfinite(sy) & (ix >= 0) & (iy >= 0)
    if ok.sum() < 2 or np.ptp(sx[ok]) == 0 or np.ptp(sy[ok]) == 0:
        return None
    ax, bx = np.polyfit(sx[ok], ix[ok], 1)
    ay, by = np.polyfit(sy[ok], iy[ok], 1)
    if ax <= 0 or ay <= 0:
        return None
    return (-bx / ax, -by / ay, (size[0] - bx) / ax, (size[1] - by) / ay)
