"""Sequence metrics between two scanpaths: MultiMatch, ScanMatch, string edit distance, DTW.

- MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012) is computed by the ``multimatch-gaze``
  package itself (its ``docomparison``), with its defaults: no grouping/simplification unless asked,
  screen size = image size. Its five similarities are in [0, 1], 1 = identical.
- ScanMatch (Cristino et al. 2010): fixations binned on a grid (letters) and in time (one letter per
  ``temporal_bin`` seconds of duration), aligned with Needleman-Wunsch using a substitution matrix
  from the distance between grid cells, normalised by ``max(substitution) * max(len)``: 1 = identical.
  The default parameters follow the evaluation code of COCO-Search18 / Chen et al. 2021
  (threshold 3.5 cells, gap 0, 50 ms temporal bins) on a 12x12 grid.
- SED: Levenshtein distance between the grid-cell strings (no temporal binning); 0 = identical.
- DTW: dynamic time warping between the fixation positions with Euclidean cost in image pixels;
  0 = identical.

All take scanpaths in image pixels over the same image (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.types import Scanpath

MULTIMATCH_DIMS: tuple[str, ...] = ("vector", "direction", "length", "position", "duration")


class MetricError(ValueError):
    """Inputs a metric cannot compare (different images, bad parameters)."""


def _xyd(sp: Scanpath | np.ndarray) -> np.ndarray:
    arr = sp.as_array() if isinstance(sp, Scanpath) else np.asarray(sp, dtype=np.float64).reshape(-1, 3)
    return arr


def multimatch(
    a: Scanpath | np.ndarray,
    b: Scanpath | np.ndarray,
    image_size: tuple[int, int],
    grouping: bool = False,
    t_dir: float = 0.0,
    t_dur: float = 0.0,
    t_amp: float = 0.0,
) -> dict[str, float]:
    """The five MultiMatch similarities from ``multimatch_gaze.docomparison`` (NaN when a path has < 3 fixations)."""
    import multimatch_gaze as mm

    def rec(sp: Scanpath | np.ndarray) -> np.recarray:
        xyd = _xyd(sp)
        return np.rec.fromarrays([xyd[:, 0], xyd[:, 1], xyd[:, 2]], names="start_x,start_y,duration")

    w, h = image_size
    res = mm.docomparison(
        rec(a), rec(b), screensize=[float(w), float(h)], grouping=grouping, TDir=t_dir, TDur=t_dur, TAmp=t_amp
    )
    vals = np.asarray(res, dtype=np.float64).ravel()
    return {k: float(v) for k, v in zip(MULTIMATCH_DIMS, vals, strict=True)}


def grid_labels(sp: Scanpath | np.ndarray, image_size: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Grid cell index (row-major, ``grid`` = (columns, rows)) of each fixation; positions clipped to the image."""
    nx, ny = grid
    if nx < 1 or ny < 1:
        raise MetricError(f"grid must be at least 1x1, got {grid}")
    w, h = image_size
    xyd = _xyd(sp)
    cx = np.clip(np.floor(xyd[:, 0] / w * nx), 0, nx - 1).astype(np.int64)
    cy = np.clip(np.floor(xyd[:, 1] / h * ny), 0, ny - 1).astype(np.int64)
    return cy * nx + cx


def levenshtein(s: np.ndarray | list[int], t: np.ndarray | list[int]) -> int:
    """Edit distance (insert, delete, substitute all cost 1)."""
    s, t = list(s), list(t)
    prev = list(range(len(t) + 1))
    for i, a in enumerate(s, 1):
        cur = [i]
        for j, b in enumerate(t, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1]


def string_edit_distance(
    a: Scanpath | np.ndarray,
    b: Scanpath | np.ndarray,
    image_size: tuple[int, int],
    grid: tuple[int, int] = (8, 8),
    normalize: bool = False,
) -> float:
    """Levenshtein distance between the grid-cell strings; ``normalize`` divides by the longer length."""
    la, lb = grid_labels(a, image_size, grid), grid_labels(b, image_size, grid)
    d = levenshtein(la, lb)
    if normalize:
        n = max(len(la), len(lb))
        return d / n if n else 0.0
    return float(d)


def dtw(a: Scanpath | np.ndarray, b: Scanpath | np.ndarray) -> float:
    """Dynamic time warping distance between fixation positions (sum of Euclidean costs, pixels)."""
    pa, pb = _xyd(a)[:, :2], _xyd(b)[:, :2]
    if len(pa) == 0 or len(pb) == 0:
        return math.nan if (len(pa) or len(pb)) else 0.0
    cost = np.hypot(pa[:, None, 0] - pb[None, :, 0], pa[:, None, 1] - pb[None, :, 1])
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row_prev, row = acc[i - 1], acc[i]
        c = cost[i - 1]
        for j in range(1, m + 1):
            row[j] = c[j - 1] + min(row_prev[j], row[j - 1], row_prev[j - 1])
    return float(acc[n, m])


@dataclass(frozen=True)
class ScanMatchParams:
    """ScanMatch parameters (Cristino et al. 2010); ``temporal_bin`` 0 disables temporal binning."""

    grid: tuple[int, int] = (12, 12)  # (columns, rows)
    temporal_bin: float = 0.050  # s per repeated letter
    threshold: float = 3.5  # cells; substitution score is 0 at this distance
    gap: float = 0.0


def substitution_matrix(grid: tuple[int, int], threshold: float) -> np.ndarray:
    """ScanMatch_CreateSubMatrix: ``|d - max d| - (max d - threshold)`` over grid-cell centre distances."""
    nx, ny = grid
    cx, cy = np.meshgrid(np.arange(nx), np.arange(ny))
    cx, cy = cx.ravel(), cy.ravel()
    d = np.hypot(cx[:, None] - cx[None, :], cy[:, None] - cy[None, :])
    dmax = d.max()
    return np.abs(d - dmax) - (dmax - threshold)


def _scanmatch_sequence(
    sp: Scanpath | np.ndarray, image_size: tuple[int, int], p: ScanMatchParams
) -> np.ndarray:
    labels = grid_labels(sp, image_size, p.grid)
    if p.temporal_bin <= 0:
        return labels
    dur = _xyd(sp)[:, 2]
    # MATLAB's round (half away from zero), as ScanMatch_FixationToSequence: a fixation shorter
    # than half a bin leaves no letter.
    reps = np.floor(np.maximum(dur, 0.0) / p.temporal_bin + 0.5 + 1e-9).astype(np.int64)
    return np.repeat(labels, reps)


def needleman_wunsch(s: np.ndarray, t: np.ndarray, sub: np.ndarray, gap: float) -> float:
    """Global alignment score of two label sequences (ScanMatch_nwAlgo)."""
    n, m = len(s), len(t)
    f = np.zeros((n + 1, m + 1))
    f[:, 0] = np.arange(n + 1) * gap
    f[0, :] = np.arange(m + 1) * gap
    for i in range(1, n + 1):
        srow = sub[s[i - 1]]
        for j in range(1, m + 1):
            f[i, j] = max(f[i - 1, j - 1] + srow[t[j - 1]], f[i - 1, j] + gap, f[i, j - 1] + gap)
    return float(f[n, m])


def scanmatch(
    a: Scanpath | np.ndarray,
    b: Scanpath | np.ndarray,
    image_size: tuple[int, int],
    params: ScanMatchParams | None = None,
) -> float:
    """Normalised ScanMatch score: alignment score / (max substitution * longer sequence); 1 = identical."""
    p = params or ScanMatchParams()
    sa, sb = _scanmatch_sequence(a, image_size, p), _scanmatch_sequence(b, image_size, p)
    if len(sa) == 0 or len(sb) == 0:
        return math.nan
    sub = substitution_matrix(p.grid, p.threshold)
    score = needleman_wunsch(sa, sb, sub, p.gap)
    return float(score / (sub.max() * max(len(sa), len(sb))))
