"""``compare``: all scanpath metrics between two fixation files, as a table or one JSON object.

    python main.py compare A.csv B.csv --size W H [--json] [--png OUT.png]
    python main.py compare A.csv B.csv --image cxr.dcm --png both.png

A is the candidate (e.g. predicted) and B the reference (e.g. recorded): NSS, AUC-Judd and KL score
A's attention map against B's fixations; the other metrics are symmetric.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two scanpaths (MultiMatch, ScanMatch, SED, DTW, NSS, AUC-Judd, CC, KL, IoU)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", type=Path, help="candidate fixation file (REFLACX fixations.csv layout, or EGD-CXR)")
    p.add_argument("b", type=Path, help="reference fixation file")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), help="image size in pixels")
    size.add_argument("--image", type=Path, help="take the size from this image (DICOM, PNG, JPEG, TIFF)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--png", type=Path, metavar="OUT.png", help="also draw both scanpaths (on --image if given)"
    )
    p.add_argument("--dicom-id", help="pick one image in an EGD-CXR fixations file holding many")
    p.add_argument(
        "--grouping",
        nargs=3,
        type=float,
        metavar=("TDIR", "TDUR", "TAMP"),
        help="MultiMatch simplification thresholds (deg, s, px); default: none",
    )
    p.add_argument("--top-k", type=float, default=0.20, help="fraction of pixels kept for IoU (default 0.20)")
    p.add_argument("--sigma-px", type=float, help="Gaussian sigma of attention maps in image pixels")
    p.set_defaults(func=run)


def _load_image(path: Path) -> Any:
    """An Image via ml.imaging; PIL when that module is absent."""
    try:
        from ml.imaging import load_image
    except ImportError:
        load_image = None
    if load_image is not None:
        return load_image(path)
    import numpy as np
    from PIL import Image as PILImage

    from ml.types import Image

    with PILImage.open(path) as im:
        return Image(pixels=np.asarray(im.convert("L")), source=str(path))


def _fmt(v: float) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _table(res: dict[str, Any], n_a: int, n_b: int, size: tuple[int, int]) -> str:
    from ml.metrics import HIGHER_IS_BETTER

    lines = [f"image {size[0]}x{size[1]} px   A: {n_a} fixations   B: {n_b} fixations", ""]
    lines.append(f"{'metric':<22}{'value':>10}   better")
    for k, v in res.items():
        arrow = "higher" if HIGHER_IS_BETTER[k] else "lower"
        if k == "multimatch":
            for d, dv in v.items():
                lines.append(f"{'multimatch.' + d:<22}{_fmt(dv):>10}   {arrow}")
        else:
            lines.append(f"{k:<22}{_fmt(v):>10}   {arrow}")
    return "\n".join(lines)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def draw(a: Any, b: Any, size: tuple[int, int], out: Path, background: Any = None) -> Path:
    """Both scanpaths over the image (or a blank canvas): circles sized by duration, numbered."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    w, h = size
    fig, ax = plt.subplots(figsize=(8, 8 * h / w), dpi=100)
    if background is not None:
        ax.imshow(background, cmap="gray", extent=(0, w, h, 0))
    else:
        ax.set_facecolor("black")
    for sp, color, label in ((a, "tab:orange", "A"), (b, "tab:cyan", "B")):
        xyd = sp.as_array()
        if len(xyd) == 0:
            continue
        ax.plot(xyd[:, 0], xyd[:, 1], "-", color=color, lw=1.2, alpha=0.8, label=f"{label} ({len(xyd)})")
        ax.scatter(xyd[:, 0], xyd[:, 1], s=40 + 600 * xyd[:, 2], color=color, alpha=0.45, edgecolors="white")
        for i, (x, y) in enumerate(xyd[:, :2], 1):
            ax.annotate(str(i), (x, y), color="white", fontsize=7, ha="center", va="center")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def run(args: argparse.Namespace) -> int:
    from ml.gaze.io import GazeFileError, read_scanpath
    from ml.metrics import compare_scanpaths
    from ml.metrics.saliency import MapParams
    from ml.types import ScanpathSource

    background = None
    try:
        if args.image is not None:
            img = _load_image(args.image)
            size = img.size
            background = img.display() if args.png else None
        else:
            size = (int(args.size[0]), int(args.size[1]))
            if min(size) <= 0:
                raise ValueError(f"--size must be positive, got {size[0]} {size[1]}")
        a = read_scanpath(args.a, size, ScanpathSource.PREDICTED, dicom_id=args.dicom_id)
        b = read_scanpath(args.b, size, ScanpathSource.RECORDED, dicom_id=args.dicom_id)
        params = MapParams(top_k=args.top_k, sigma_px=args.sigma_px)
        res = compare_scanpaths(a, b, size, map_params=params, multimatch_grouping=False)
        if args.grouping:
            from ml.metrics.scanpath import multimatch

            t_dir, t_dur, t_amp = args.grouping
            res["multimatch"] = multimatch(a, b, size, grouping=True, t_dir=t_dir, t_dur=t_dur, t_amp=t_amp)
    except (GazeFileError, ValueError, OSError) as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_json_safe(res)))
    else:
        print(_table(res, len(a), len(b), size))
    sys.stdout.flush()
    if args.png:
        out = draw(a, b, size, args.png, background)
        print(f"wrote {out}", file=sys.stderr)
    return 0
