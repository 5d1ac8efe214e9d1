"""The clinical look: what a CR/DX film carries that a clean projection does not.

The renderer already exposes a film as a detector would: scatter, quantum noise, blur, log,
large-scale latitude compression and unsharp-mask edge enhancement (``ml.cohort.render.expose``).
A clinical film also shows what the acquisition and the department add. A ``Look`` adds these,
each drawn per case with its own probability from the case's seed, after the exposure:

- a vendor tone curve (an S-shaped LUT on the processed image, ``tone``);
- correlated detector noise: low-frequency structured noise and row/column banding (``detector_noise``);
- anti-scatter grid lines, a fine periodic stripe pattern (``grid``);
- collimation: unexposed, bright borders outside a rectangular field (``collimation``);
- burned-in annotations: a lead side marker (an "L" or "R" in a box, on the patient's side) and a
  line of text at the top (``markers``).

None of them changes the anatomy or the findings, so the ground truth stands; what was added is
returned as notes (``cases.csv``: ``look``). The look draws from its own generator
(``[seed, 3]``), so the plain look (``Look()``, all zero) renders exactly the films it rendered
before. ``LOOKS`` names the presets: ``plain`` (the default while the demo bundle is trained on
plain renders) and ``clinical``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Look:
    """Per-case probabilities (grid, collimation, markers) and strengths (tone, detector_noise)."""

    tone: float = 0.0  # 0..1: blend of the S-shaped tone curve
    detector_noise: float = 0.0  # standard deviation of the structured noise, in units of the range
    grid: float = 0.0  # probability of visible grid lines
    collimation: float = 0.0  # probability of collimated borders
    markers: float = 0.0  # probability of a side marker and a text line

    @property
    def plain(self) -> bool:
        return not any(asdict(self).values())


LOOKS: dict[str, Look] = {
    "plain": Look(),
    "clinical": Look(tone=0.7, detector_noise=0.012, grid=0.35, collimation=0.7, markers=0.85),
}

_TEXTS = ("PA ERECT", "CHEST PA", "STANDING", "INSP", "CR CHEST")


def _tone(x: np.ndarray, strength: float) -> np.ndarray:
    """An S-shaped tone curve (logistic around mid-grey) blended with the identity."""
    s = 1.0 / (1.0 + np.exp(-8.0 * (x - 0.5)))
    lo, hi = 1.0 / (1.0 + np.exp(4.0)), 1.0 / (1.0 + np.exp(-4.0))
    return (1 - strength) * x + strength * (s - lo) / (hi - lo)


def _detector_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency structured noise plus faint row and column banding."""
    h, w = shape
    blob = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), max(h, w) / 64)
    blob /= max(float(blob.std()), 1e-6)
    rows = rng.standard_normal((h, 1)).astype(np.float32) * 0.5
    cols = rng.standard_normal((1, w)).astype(np.float32) * 0.3
    return sigma * (blob + rows + cols)


def _grid(shape: tuple[int, int], pixel_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Grid lines: a stripe pattern at the grid's frequency aliased onto the pixels."""
    h, w = shape
    lines_per_mm = rng.uniform(3.0, 7.0)
    phase = rng.uniform(0, 2 * np.pi)
    amplitude = rng.uniform(0.006, 0.02)
    freq = lines_per_mm * pixel_mm  # cycles per pixel, aliased
    axis = np.arange(w if rng.random() < 0.7 else h, dtype=np.float32)
    stripes = amplitude * np.sin(2 * np.pi * freq * axis + phase)
    return stripes[None, :] if len(axis) == w else stripes[:, None]


def _collimate(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Bright, slightly smoothed borders outside a rectangular field; returns the field (x0, y0, x1, y1)."""
    h, w = x.shape
    x0, x1 = int(rng.uniform(0.0, 0.08) * w), w - int(rng.uniform(0.0, 0.08) * w)
    y0, y1 = int(rng.uniform(0.0, 0.06) * h), h - int(rng.uniform(0.0, 0.05) * h)
    field = np.zeros_like(x, dtype=np.float32)
    field[y0:y1, x0:x1] = 1.0
    field = ndimage.gaussian_filter(field, max(1.0, w / 400))
    outside = rng.uniform(0.85, 1.0)
    return field * x + (1 - field) * outside, f"{x0} {y0} {x1} {y1}"


def _burn_in(x: np.ndarray, side: str, text: str, rng: np.random.Generator) -> np.ndarray:
    """A lead side marker (white letter in a box) on the patient's side and a text line at the top."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = x.shape
    img = Image.fromarray((np.clip(x, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    size = max(8, int(w * rng.uniform(0.035, 0.05)))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one fixed size
        font = ImageFont.load_default()
    # the patient's right is on the image's left (frontal views as displayed)
    left = side == "R"
    mx = int(w * rng.uniform(0.04, 0.1)) if left else int(w * rng.uniform(0.84, 0.9))
    my = int(h * rng.uniform(0.04, 0.12))
    pad = max(1, size // 5)
    draw.rectangle([mx - pad, my - pad, mx + size + pad, my + size + 2 * pad], outline=255, width=max(1, size // 10))
    draw.text((mx, my), side, fill=255, font=font)
    tx = int(w * rng.uniform(0.3, 0.5))
    draw.text((tx, int(h * 0.02)), text, fill=int(rng.uniform(200, 255)), font=font)
    burnt = np.asarray(img, dtype=np.float32) / 255.0
    return np.where(burnt >= 0.78, np.maximum(x, burnt), x)


def apply_look(
    image01: np.ndarray, look: Look, seed: int, pixel_mm: float, view: str = "PA"
) -> tuple[np.ndarray, dict]:
    """The film with the look applied (float 0..1) and notes of what was added."""
    if look.plain:
        return image01, {}
    rng = np.random.default_rng([seed, 3])
    x = np.asarray(image01, dtype=np.float32)
    notes: dict = {}
    if look.tone > 0:
        x = _tone(x, look.tone)
        notes["tone"] = look.tone
    if look.detector_noise > 0:
        x = x + _detector_noise(x.shape, look.detector_noise, rng)
    if rng.random() < look.grid:
        x = x + _grid(x.shape, pixel_mm, rng)
        notes["grid"] = True
    x = np.clip(x, 0.0, 1.0)
    if rng.random() < look.collimation:
        x, notes["collimation"] = _collimate(x, rng)
    if rng.random() < look.markers:
        side = "R" if rng.random() < 0.5 else "L"
        text = _TEXTS[int(rng.integers(len(_TEXTS)))] if view == "PA" else "AP PORTABLE"
        x = _burn_in(x, side, text, rng)
        notes["marker"] = side
        notes["text"] = text
    return np.clip(x, 0.0, 1.0).astype(np.float32), notes
