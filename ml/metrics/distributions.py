"""Human-likeness of scanpaths as distances between distributions, beside the pairwise metrics.

MultiMatch, ScanMatch and the saliency metrics compare one path with another; they do not say
whether a predictor's paths *look like* a reader's: as many fixations, as long, with saccades of the
same length, spread over as much of the image. Each of those is a distribution over a set of
scanpaths, and the distance between the candidate set's and the reference set's distribution is
the 1-Wasserstein (earth mover's) distance, in the unit of the quantity, 0 = the same distribution:

- ``saccade_amplitude``: distance between consecutive fixations, as a fraction of the image
  diagonal (so images of different sizes pool), over all saccades of the set;
- ``fixation_duration``: seconds, over all fixations of the set;
- ``fixation_count``: fixations per scanpath;
- ``coverage``: per scanpath, the fraction of the cells of a ``grid`` over the image that hold at
  least one fixation.

A set with nothing to measure (no scanpath, or no saccade) gives NaN for that quantity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ml.metrics.scanpath import grid_labels
from ml.types import Scanpath

#: The keys of :func:`distribution_distances`, in display order (all: lower is better).
DISTRIBUTION_KEYS: tuple[str, ...] = ("saccade_amplitude", "fixation_duration", "fixation_count", "coverage")
COVERAGE_GRID: tuple[int, int] = (8, 8)


def saccade_amplitudes(sp: Scanpath) -> np.ndarray:
    """Distances between consecutive fixations as fractions of the image diagonal."""
    xyd = sp.as_array()
    if len(xyd) < 2:
        return np.zeros(0)
    w, h = sp.image_size
    diagonal = math.hypot(w, h) or 1.0
    return np.hypot(np.diff(xyd[:, 0]), np.diff(xyd[:, 1])) / diagonal


def coverage(sp: Scanpath, grid: tuple[int, int] = COVERAGE_GRID) -> float:
    """Fraction of the grid's cells over the image that hold at least one fixation."""
    if not len(sp):
        return 0.0
    return len(set(grid_labels(sp, sp.image_size, grid).tolist())) / (grid[0] * grid[1])


def scanpath_statistics(
    scanpaths: Sequence[Scanpath], grid: tuple[int, int] = COVERAGE_GRID
) -> dict[str, np.ndarray]:
    """The samples of each quantity over a set of scanpaths (pooled or one per scanpath)."""
    paths = list(scanpaths)
    return {
        "saccade_amplitude": np.concatenate([saccade_amplitudes(sp) for sp in paths] or [np.zeros(0)]),
        "fixation_duration": np.concatenate([sp.as_array()[:, 2] for sp in paths] or [np.zeros(0)]),
        "fixation_count": np.array([len(sp) for sp in paths], dtype=np.float64),
        "coverage": np.array([coverage(sp, grid) for sp in paths], dtype=np.float64),
    }


def wasserstein_1(u: np.ndarray, v: np.ndarray) -> float:
    """Earth mover's distance between two empirical 1-D distributions (NaN when either is empty)."""
    if len(u) == 0 or len(v) == 0:
        return math.nan
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(u, v))


def distribution_distances(
    candidates: Sequence[Scanpath], references: Sequence[Scanpath], grid: tuple[int, int] = COVERAGE_GRID
) -> dict[str, float]:
    """Wasserstein-1 distance of each quantity between the candidate set (e.g. predicted) and the
    reference set (e.g. recorded readers); keys :data:`DISTRIBUTION_KEYS`."""
    a, b = scanpath_statistics(candidates, grid), scanpath_statistics(references, grid)
    return {k: wasserstein_1(a[k], b[k]) for k in DISTRIBUTION_KEYS}


def reader_baseline(
    readers_per_image: Sequence[Sequence[Scanpath]], grid: tuple[int, int] = COVERAGE_GRID
) -> dict[str, float]:
    """The human floor of :func:`distribution_distances`: one reader per image held out as the
    candidate set against the other readers of the same images, averaged over which reader is held
    out (images with fewer than two readers are left out; NaN when none has two)."""
    groups = [list(g) for g in readers_per_image if len(g) >= 2]
    runs = []
    for j in range(max((len(g) for g in groups), default=0)):
        held = [g[j] for g in groups if len(g) > j]
        rest = [sp for g in groups if len(g) > j for i, sp in enumerate(g) if i != j]
        runs.append(distribution_distances(held, rest, grid))
    return {k: _mean([r[k] for r in runs]) for k in DISTRIBUTION_KEYS}


def _mean(values: list[float]) -> float:
    good = [v for v in values if not math.isnan(v)]
    return sum(good) / len(good) if good else math.nan
