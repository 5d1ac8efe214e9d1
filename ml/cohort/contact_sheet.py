"""A contact sheet of a cohort: 16 images with ground-truth outlines and one reader's scanpath.

Used for ``docs/cohort_contact_sheet.png`` (``python main.py cohort ... --contact-sheet PATH``) and
for looking at a cohort quickly. Outlines are the projected finding masks (colour by kind);
the scanpath is drawn as numbered-order lines with circles sized by fixation duration.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

COLOURS = {
    "nodule": (255, 50, 50),
    "mass": (255, 0, 255),
    "consolidation": (255, 150, 0),
    "effusion": (60, 100, 255),
    "pneumothorax": (255, 255, 0),
    "cardiomegaly": (50, 255, 50),
    "atelectasis": (180, 110, 255),
    "edema": (255, 200, 150),
}
SCANPATH = (0, 230, 255)


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=width) & ~mask


def contact_sheet(
    cohort: str | os.PathLike[str],
    out: str | os.PathLike[str],
    n: int = 16,
    reader: str = "R1",
    tile: int = 400,
    columns: int = 4,
) -> Path:
    """Draw the first ``n`` cases of ``cohort`` into the PNG ``out`` and return its path."""
    from PIL import Image, ImageDraw, ImageFont

    from ml.cohort.build import read_table
    from ml.cohort.writer import read_masks
    from ml.gaze.io import read_fixations

    root = Path(cohort)
    cases = read_table(root / "cases.csv")[:n]
    findings = read_table(root / "findings.csv")
    rows = (len(cases) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * (tile + 34)), (16, 16, 16))
    font = ImageFont.load_default()
    for k, c in enumerate(cases):
        cid = c["case_id"]
        img = np.asarray(Image.open(root / c["png"]).convert("L"))
        rgb = np.stack([img] * 3, axis=-1).copy()
        masks = read_masks(root / "ground_truth" / cid / "masks.npz")
        kinds = [f["kind"] for f in findings if f["case_id"] == cid]
        for i, kind in enumerate(kinds):
            m = masks.get(f"finding_{i}")
            if m is not None:
                rgb[_outline(m, max(2, img.shape[0] // 250))] = COLOURS.get(kind, (255, 255, 255))
        im = Image.fromarray(rgb).resize((tile, tile), Image.BILINEAR)
        draw = ImageDraw.Draw(im)
        s = tile / img.shape[1]
        fix_path = root / "main_data" / f"{cid}_{reader}" / "fixations.csv"
        if fix_path.exists():
            fx = read_fixations(fix_path)
            pts = [(f.x * s, f.y * s) for f in fx]
            if len(pts) > 1:
                draw.line(pts, fill=SCANPATH, width=1)
            for f in fx:
                r = 1.5 + 6.0 * min(f.duration, 1.0)
                draw.ellipse([f.x * s - r, f.y * s - r, f.x * s + r, f.y * s + r], outline=(255, 255, 255))
        x0, y0 = (k % columns) * tile, (k // columns) * (tile + 34)
        sheet.paste(im, (x0, y0))
        label = f"{cid} {c['view']} CTR {float(c['ctr']):.2f}"
        desc = ", ".join(kinds) if kinds else "normal"
        subtle = c.get("subtle_kinds", "")
        ImageDraw.Draw(sheet).text((x0 + 4, y0 + tile + 2), label, fill=(230, 230, 230), font=font)
        ImageDraw.Draw(sheet).text(
            (x0 + 4, y0 + tile + 17),
            desc + (f" (subtle: {subtle})" if subtle else ""),
            fill=(255, 200, 120),
            font=font,
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
