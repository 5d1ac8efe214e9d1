"""Metrics: scanpath comparison (here and in scanpath.py / saliency.py), NLG and clinical efficacy.

:func:`compare_scanpaths` is the one call the CLI (``main.py compare``), the GUI's compare view and
the evaluation use, so every place reports the same numbers under the same names.
"""

from __future__ import annotations

from typing import Any

from ml.types import Scanpath

#: The keys of :func:`compare_scanpaths`' result, in display order.
COMPARE_KEYS: tuple[str, ...] = (
    "multimatch",
    "scanmatch",
    "sed",
    "dtw",
    "nss",
    "auc_judd",
    "cc",
    "kl",
    "iou",
)
#: For each scalar key: True when higher is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "multimatch": True,
    "scanmatch": True,
    "sed": False,
    "dtw": False,
    "nss": True,
    "auc_judd": True,
    "cc": True,
    "kl": False,
    "iou": True,
}


def compare_scanpaths(
    a: Scanpath,
    b: Scanpath,
    image_size: tuple[int, int] | None = None,
    *,
    scanmatch_params: Any = None,
    map_params: Any = None,
    sed_grid: tuple[int, int] = (8, 8),
    multimatch_grouping: bool = False,
) -> dict[str, Any]:
    """All scanpath metrics of ``a`` (candidate, e.g. predicted) against ``b`` (reference, e.g. recorded).

    Returns ``{"multimatch": {"vector", "direction", "length", "position", "duration"}, "scanmatch",
    "sed", "dtw", "nss", "auc_judd", "cc", "kl", "iou"}``; NaN where a metric is undefined (e.g.
    MultiMatch needs 3 fixations per path). Sequence metrics and CC/IoU are symmetric; NSS, AUC-Judd
    and KL score ``a``'s map against ``b``'s fixations (see :mod:`ml.metrics.saliency`).
    """
    from ml.metrics import saliency, scanpath

    size = tuple(image_size or b.image_size or a.image_size)
    if len(size) != 2 or min(size) <= 0:
        raise scanpath.MetricError(f"image size must be two positive numbers, got {size}")
    size = (int(size[0]), int(size[1]))
    out: dict[str, Any] = {
        "multimatch": scanpath.multimatch(a, b, size, grouping=multimatch_grouping),
        "scanmatch": scanpath.scanmatch(a, b, size, scanmatch_params),
        "sed": scanpath.string_edit_distance(a, b, size, grid=sed_grid),
        "dtw": scanpath.dtw(a, b),
    }
    out.update(saliency.saliency_metrics(a, b, size, map_params))
    return {k: out[k] for k in COMPARE_KEYS}


def mean_metrics(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Average :func:`compare_scanpaths` results (NaN-aware), keeping the nested MultiMatch dict."""
    import math

    def avg(vals: list[float]) -> float:
        good = [v for v in vals if v is not None and not math.isnan(v)]
        return sum(good) / len(good) if good else math.nan

    if not results:
        return {}
    out: dict[str, Any] = {}
    for k in COMPARE_KEYS:
        if k == "multimatch":
            out[k] = {d: avg([r[k][d] for r in results]) for d in results[0][k]}
        else:
            out[k] = avg([r[k] for r in results])
    out["n"] = len(results)
    return out


def compare_to_readers(
    candidate: Scanpath, references: list[Scanpath], image_size: tuple[int, int] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Mean of :func:`compare_scanpaths` of ``candidate`` against each reference reader on one image."""
    return mean_metrics([compare_scanpaths(candidate, r, image_size, **kwargs) for r in references])


def inter_reader_agreement(
    scanpaths: list[Scanpath], image_size: tuple[int, int] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Mean over all ordered pairs of different readers on one image: the human ceiling a
    predicted scanpath's :func:`compare_to_readers` is read against (empty dict with < 2 readers)."""
    pairs = [
        compare_scanpaths(a, b, image_size, **kwargs)
        for i, a in enumerate(scanpaths)
        for j, b in enumerate(scanpaths)
        if i != j
    ]
    return mean_metrics(pairs)
