"""Example-case figures for the results: image, real and predicted scanpaths, GNN attention, reports."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ml.types import Image, Scanpath

REAL_COLOUR, PRED_COLOUR = "#2ca02c", "#ff7f0e"


def _thumb(image: Image, max_side: int = 512) -> tuple[np.ndarray, float]:
    """8-bit display image reduced to at most ``max_side`` pixels, and the scale applied."""
    step = max(1, int(np.ceil(max(image.height, image.width) / max_side)))
    disp = image.display()[::step, ::step]
    return disp, 1.0 / step


def _draw_scanpath(ax: Any, sp: Scanpath, scale: float, colour: str, label: str) -> None:
    if not sp.fixations:
        return
    xy = np.array([(f.x * scale, f.y * scale) for f in sp.fixations])
    dur = np.array([max(f.duration, 0.01) for f in sp.fixations])
    ax.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=1.0, alpha=0.8)
    ax.scatter(xy[:, 0], xy[:, 1], s=20 + 200 * dur / dur.max(), facecolors="none", edgecolors=colour, lw=1.2,
               label=label)  # fmt: skip
    for i, (x, y) in enumerate(xy[:12]):
        ax.text(x, y, str(i + 1), color=colour, fontsize=6, ha="center", va="center")


def attention_map(
    sp: Scanpath, weights: list[float], shape: tuple[int, int], scale: float, sigma: float
) -> np.ndarray:
    """Gaussian splat of node attention at the fixations (the GUI's overlay, for a static figure)."""
    h, w = shape
    out = np.zeros((h, w), dtype=np.float32)
    if not weights:
        return out
    ys, xs = np.mgrid[0:h, 0:w]
    for f, a in zip(sp.fixations, weights, strict=False):
        out += float(a) * np.exp(-((xs - f.x * scale) ** 2 + (ys - f.y * scale) ** 2) / (2 * sigma**2))
    return out / out.max() if out.max() > 0 else out


def example_figure(example: dict[str, Any], path: Path) -> Path:
    """One PNG: image + scanpaths, attention overlay, reference vs generated report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case, image, drafts = example["case"], example["image"], example["drafts"]
    predicted: Scanpath = example["predicted"]
    disp, scale = _thumb(image)
    fig = plt.figure(figsize=(13, 5.2), dpi=110)
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.25])

    ax = fig.add_subplot(grid[0])
    ax.imshow(disp, cmap="gray")
    if case.primary_scanpath is not None:
        _draw_scanpath(
            ax,
            case.primary_scanpath,
            scale,
            REAL_COLOUR,
            f"recorded ({case.primary_scanpath.reader or 'reader 1'})",
        )
    _draw_scanpath(ax, predicted, scale, PRED_COLOUR, "predicted")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(f"{case.id}: scanpaths", fontsize=9)
    ax.axis("off")

    ax = fig.add_subplot(grid[1])
    ax.imshow(disp, cmap="gray")
    draft = drafts.get("predicted") or next(iter(drafts.values()))
    sp = draft.scanpath or predicted
    if draft.attention and sp is not None and sp.fixations:
        heat = attention_map(sp, draft.attention, disp.shape[:2], scale, sigma=max(disp.shape) / 30)
        ax.imshow(heat, cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        xy = np.array([(f.x * scale, f.y * scale) for f in sp.fixations[: len(draft.attention)]])
        att = np.asarray(draft.attention[: len(xy)])
        ax.scatter(xy[:, 0], xy[:, 1], s=15 + 400 * att / max(att.max(), 1e-9), c=att, cmap="inferno",
                   edgecolors="white", lw=0.5)  # fmt: skip
        ax.set_title("GNN node attention (predicted gaze)", fontsize=9)
    else:
        ax.set_title("no attention returned for this row", fontsize=9)
    ax.axis("off")

    ax = fig.add_subplot(grid[2])
    ax.axis("off")
    blocks = [(f"Reference ({example.get('reference', 'reference report')})", case.reference)]
    blocks += [(f"Generated — {mode}", d.text) for mode, d in drafts.items()]
    y = 1.0
    for title, text in blocks:
        ax.text(0, y, title, fontsize=8, fontweight="bold", va="top", transform=ax.transAxes)
        y -= 0.045
        body = textwrap.fill(text.strip() or "(empty)", 95)
        lines = body.splitlines()[:6]
        ax.text(0, y, "\n".join(lines), fontsize=6.5, va="top", family="monospace", transform=ax.transAxes)
        y -= 0.035 * len(lines) + 0.04
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def example_figures(examples: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write ``example_<n>.png`` for each example into ``out``."""
    return [example_figure(ex, Path(out) / f"example_{i + 1}.png") for i, ex in enumerate(examples)]
