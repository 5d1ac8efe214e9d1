"""Saliency-style metrics between fixation maps (MIT/Tuebingen saliency benchmark definitions).

A scanpath becomes (1) a binary *fixation map* (the fixated pixels) and (2) an *attention map*:
fixations, optionally weighted by duration, blurred with a Gaussian of ``sigma`` (default ~1 deg of
visual angle, taken as 3.5 % of the image's longer side: REFLACX's 94 px/deg on its ~2.5k-pixel
images). Maps are computed on a grid whose longer side is ``map_size`` pixels (default 256) so a
3000x3000 radiograph costs milliseconds; metrics are invariant to that scale up to binning.

Conventions, for ``metric(candidate, reference)`` (e.g. predicted vs recorded):
- NSS: mean of the candidate's standardised attention map at the reference's fixated pixels.
- AUC-Judd: the candidate's attention map as a classifier of the reference's fixated pixels against
  all other pixels (thresholds at the fixated values; no random jitter).
- CC: Pearson correlation of the two attention maps (symmetric).
- KL: KL(reference || candidate) of the maps as distributions, eps = 2.2e-16 as in the benchmark.
- IoU: each attention map thresholded to its top ``top_k`` fraction of pixels (default 20 %; zero
  pixels never count as attended), then |A and B| / |A or B| (symmetric). MedGaze's exact threshold is not stated in what we have; keep
  ``top_k`` fixed when comparing numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.types import Scanpath

EPS = 2.2204e-16


@dataclass(frozen=True)
class MapParams:
    """How scanpaths become maps."""

    sigma_frac: float = 0.035  # Gaussian sigma as a fraction of the image's longer side (~1 deg)
    sigma_px: float | None = None  # overrides sigma_frac: sigma in image pixels (e.g. 1 deg in px)
    map_size: int = 256  # longer side of the map grid
    duration_weighted: bool = True  # weight each fixation by its duration in the attention map
    top_k: float = 0.20  # fraction of pixels kept when thresholding for IoU


def map_shape(image_size: tuple[int, int], map_size: int) -> tuple[int, int]:
    """(rows, columns) of the map grid for an image of (width, height)."""
    w, h = image_size
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    s = min(1.0, map_size / max(w, h))
    return max(1, round(h * s)), max(1, round(w * s))


def _cells(
    sp: Scanpath, image_size: tuple[int, int], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    w, h = image_size
    rows, cols = shape
    xyd = sp.as_array()
    inside = (xyd[:, 0] >= 0) & (xyd[:, 0] <= w) & (xyd[:, 1] >= 0) & (xyd[:, 1] <= h)
    xyd = xyd[inside & np.isfinite(xyd[:, 0]) & np.isfinite(xyd[:, 1])]
    c = np.clip((xyd[:, 0] / w * cols).astype(np.int64), 0, cols - 1)
    r = np.clip((xyd[:, 1] / h * rows).astype(np.int64), 0, rows - 1)
    return np.stack([r, c], 1), xyd[:, 2]


def fixation_map(sp: Scanpath, image_size: tuple[int, int], params: MapParams | None = None) -> np.ndarray:
    """Binary map of the fixated cells (fixations outside the image are ignored)."""
    p = params or MapParams()
    shape = map_shape(image_size, p.map_size)
    rc, _ = _cells(sp, image_size, shape)
    out = np.zeros(shape, dtype=bool)
    out[rc[:, 0], rc[:, 1]] = True
    return out


def attention_map(sp: Scanpath, image_size: tuple[int, int], params: MapParams | None = None) -> np.ndarray:
    """Gaussian-blurred (optionally duration-weighted) fixation density, summing to 1 (zeros if empty)."""
    from scipy.ndimage import gaussian_filter

    p = params or MapParams()
    shape = map_shape(image_size, p.map_size)
    rc, dur = _cells(sp, image_size, shape)
    acc = np.zeros(shape, dtype=np.float64)
    weights = np.maximum(dur, 0.0) if p.duration_weighted else np.ones(len(rc))
    if p.duration_weighted and len(weights) and weights.sum() <= 0:
        weights = np.ones(len(rc))
    np.add.at(acc, (rc[:, 0], rc[:, 1]), weights)
    scale = shape[1] / image_size[0]
    sigma_img = p.sigma_px if p.sigma_px is not None else p.sigma_frac * max(image_size)
    acc = gaussian_filter(acc, sigma=max(sigma_img * scale, 1e-6), mode="constant")
    total = acc.sum()
    return acc / total if total > 0 else acc


def nss(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """Normalized Scanpath Saliency: mean standardised saliency at fixated pixels."""
    fix = fixations.astype(bool)
    if not fix.any():
        return math.nan
    std = saliency.std()
    if std == 0:
        return 0.0
    return float(((saliency - saliency.mean()) / std)[fix].mean())


def auc_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """AUC-Judd: ROC area with thresholds at the saliency values of the fixated pixels."""
    fix = fixations.astype(bool)
    n_fix, n_pix = int(fix.sum()), fix.size
    if n_fix == 0 or n_fix == n_pix:
        return math.nan
    s = saliency.ravel().astype(np.float64)
    thresholds = np.sort(saliency[fix].astype(np.float64))[::-1]
    s_sorted = np.sort(s)
    # pixels with saliency >= each threshold
    above = n_pix - np.searchsorted(s_sorted, thresholds, side="left")
    tp = np.concatenate([[0.0], np.arange(1, n_fix + 1) / n_fix, [1.0]])
    fp = np.concatenate([[0.0], (above - np.arange(1, n_fix + 1)) / (n_pix - n_fix), [1.0]])
    return float(np.trapezoid(tp, fp) if hasattr(np, "trapezoid") else np.trapz(tp, fp))


def cc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation coefficient between two maps."""
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return math.nan
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def kl_div(candidate: np.ndarray, reference: np.ndarray) -> float:
    """KL(reference || candidate) of the maps normalised to distributions (0 = identical)."""
    q = candidate.astype(np.float64)
    p = reference.astype(np.float64)
    if q.sum() <= 0 or p.sum() <= 0:
        return math.nan
    q = q / q.sum()
    p = p / p.sum()
    return max(0.0, float((p * np.log(EPS + p / (q + EPS))).sum()))  # >= 0 up to eps rounding


def top_k_mask(m: np.ndarray, top_k: float) -> np.ndarray:
    """Pixels whose value is at least the ``top_k``-quantile from the top, and above zero.

    Zero-valued pixels (beyond the Gaussians' support) are never "attended", so a sparse map may
    keep fewer than ``top_k`` of the pixels; ties at the threshold are all kept.
    """
    if not 0 < top_k <= 1:
        raise ValueError(f"top_k must be in (0, 1], got {top_k}")
    flat = m.ravel()
    k = max(1, round(top_k * flat.size))
    kth = np.partition(flat, flat.size - k)[flat.size - k]
    return (m >= kth) & (m > 0)


def iou(a: np.ndarray, b: np.ndarray, top_k: float = 0.20) -> float:
    """IoU of the two maps' top-``top_k`` regions."""
    if not a.any() or not b.any():
        return math.nan
    ma, mb = top_k_mask(a, top_k), top_k_mask(b, top_k)
    union = (ma | mb).sum()
    return float((ma & mb).sum() / union) if union else math.nan


def saliency_metrics(
    candidate: Scanpath, reference: Scanpath, image_size: tuple[int, int], params: MapParams | None = None
) -> dict[str, float]:
    """NSS, AUC-Judd, CC, KL and IoU of ``candidate`` against ``reference`` (conventions above)."""
    p = params or MapParams()
    cand_map = attention_map(candidate, image_size, p)
    ref_map = attention_map(reference, image_size, p)
    ref_fix = fixation_map(reference, image_size, p)
    return {
        "nss": nss(cand_map, ref_fix),
        "auc_judd": auc_judd(cand_map, ref_fix),
        "cc": cc(cand_map, ref_map),
        "kl": kl_div(cand_map, ref_map),
        "iou": iou(cand_map, ref_map, p.top_k),
    }
