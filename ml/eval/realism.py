"""How far rendered films are from real ones, measured without the model's own encoder.

The encoder was trained on renders, so its features are a biased ruler for "how real": a look
it never saw would seem far from everything, however real. Two encoder-free distances, computed on
the images as the model sees them (``preprocess``: display VOI, 224 × 224, [0, 1]):

- **intensity**: the 1-Wasserstein distance between the two sets' pooled grey-level
  distributions (mean absolute difference of 256 quantiles), in units of the display range;
- **spectrum**: the RMS difference of the two sets' mean radially averaged log10 power spectra
  (mean-subtracted, Hann-windowed), in decades: texture, noise and sharpness at every scale.

The real films are the dev assets' chest radiographs (``ml.assets.dev_radiographs``; the tibia
is left out). ``realism_sheet`` draws renders beside real films, at build time only: the films'
pixels are never committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Dev films that are real radiographs but not chests (outliers for the gate, not a realism target).
NOT_CHEST = frozenset({"RG3_UNCR.dcm"})
SIZE = 224


def model_view(paths: list[Path], size: int = SIZE) -> np.ndarray:
    """Images as the model sees them: (N, size, size) float in [0, 1]."""
    from ml.imaging import load_image
    from ml.models.gaze2report import preprocess

    return np.stack([preprocess(load_image(p), size)[0, 0].numpy() for p in paths])


def intensity_distance(a: np.ndarray, b: np.ndarray, quantiles: int = 256) -> float:
    """1-Wasserstein distance between the pooled grey levels of two image sets."""
    q = (np.arange(quantiles) + 0.5) / quantiles
    return float(np.mean(np.abs(np.quantile(a.ravel(), q) - np.quantile(b.ravel(), q))))


def log_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean radially averaged log10 power spectrum of images (N, S, S): one value per radius."""
    n, s, _ = images.shape
    window = np.outer(np.hanning(s), np.hanning(s))
    y, x = np.indices((s, s)) - s // 2
    radius = np.hypot(x, y).astype(int)
    keep = (radius > 0) & (radius < s // 2)
    counts = np.bincount(radius[keep], minlength=s // 2)
    spectra = []
    for img in images:
        f = np.fft.fftshift(np.fft.fft2((img - img.mean()) * window))
        power = np.bincount(radius[keep], weights=np.abs(f[keep]) ** 2, minlength=s // 2)
        spectra.append(np.log10(power[1:] / np.maximum(counts[1:], 1) + 1e-12))
    return np.mean(spectra, axis=0)


def spectrum_distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference (decades) of two image sets' mean log power spectra."""
    return float(np.sqrt(np.mean((log_spectrum(a) - log_spectrum(b)) ** 2)))


def chest_films() -> list[Path]:
    """The real chest radiographs of the dev assets (fetched if missing)."""
    from ml.assets import dev_radiographs

    return [p for p in dev_radiographs() if p.name not in NOT_CHEST]


def cohort_images(cohort: str | Path, n: int) -> list[Path]:
    """The first ``n`` images of a cohort folder (by case id)."""
    from ml.cohort.build import read_table

    root = Path(cohort)
    return [root / c["png"] for c in read_table(root / "cases.csv")[:n]]


def realism(cohorts: list[str | Path], real: list[Path], n: int = 120) -> dict[str, Any]:
    """Both distances from each cohort's first ``n`` images to the real films, and, for scale,
    between two halves of the real films (alternate files: adults and children, normal and ill)."""
    films = model_view(real)
    out: dict[str, Any] = {
        "real_films": [p.name for p in real],
        "real_vs_real": {
            "intensity": round(intensity_distance(films[0::2], films[1::2]), 4),
            "spectrum": round(spectrum_distance(films[0::2], films[1::2]), 4),
        },
        "cohorts": {},
    }
    for c in cohorts:
        renders = model_view(cohort_images(c, n))
        out["cohorts"][str(c)] = {
            "images": len(renders),
            "intensity": round(intensity_distance(renders, films), 4),
            "spectrum": round(spectrum_distance(renders, films), 4),
        }
    return out


def realism_sheet(cohorts: list[str | Path], real: list[Path], out: str | Path, per_row: int = 8, tile: int = 200) -> Path:
    """A PNG: one row of renders per cohort, then rows of real films, each labelled."""
    from PIL import Image, ImageDraw, ImageFont

    rows: list[tuple[str, list[np.ndarray]]] = [
        (Path(c).name, list(model_view(cohort_images(c, per_row), tile))) for c in cohorts
    ]
    films = list(model_view(real, tile))
    for k in range(0, len(films), per_row):
        rows.append(("real radiographs (dev assets)" if k == 0 else "", films[k : k + per_row]))
    label = 18
    sheet = Image.new("L", (per_row * tile, len(rows) * (tile + label)), 16)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, (name, images) in enumerate(rows):
        y = r * (tile + label)
        draw.text((4, y + 3), name, fill=230, font=font)
        for c, img in enumerate(images):
            sheet.paste(Image.fromarray((img * 255).round().astype(np.uint8)), (c * tile, y + label))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
