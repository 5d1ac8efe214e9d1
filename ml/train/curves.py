"""Metric curves of a run (one panel per stage: training and validation losses) as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_curves(records: list[dict[str, Any]], out: Path) -> Path | None:
    """Plot every numeric loss-like key per stage from the metric log; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(r["stage"] for r in records))
    if not stages:
        return None
    fig, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.6), squeeze=False)
    skip = {"stage", "step", "split", "time", "lr", "sec_per_step"}
    for ax, stage in zip(axes[0], stages, strict=True):
        rows = [r for r in records if r["stage"] == stage]
        keys = sorted(
            {k for r in rows for k, v in r.items() if k not in skip and isinstance(v, (int, float))}
        )
        for split, style in (("train", "-"), ("val", "o-")):
            for k in keys:
                pts = [(r["step"], r[k]) for r in rows if r["split"] == split and k in r]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(xs, ys, style, label=f"{split} {k}", markersize=3)
        ax.set_title(f"stage: {stage}")
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
