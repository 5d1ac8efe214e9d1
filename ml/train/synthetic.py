"""Tiny synthetic studies for unit tests and benchmarks (NOT the cohort: no anatomy, no realism).

Each study is a small grey PNG with a bright blob where its one finding is, two "readers" whose
fixations visit the blob, a report naming the finding and its CheXpert label, so a model has
something learnable in a few steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.types import Finding, Fixation, Report, Scanpath, ScanpathSource, Study

_FINDINGS = {
    "Pleural Effusion": "There is a small left pleural effusion.",
    "Cardiomegaly": "The heart is enlarged.",
    "Pneumothorax": "There is a right apical pneumothorax.",
}


def make_studies(folder: str | Path, n: int = 12, size: int = 96, seed: int = 0) -> list[Study]:
    """Write ``n`` PNGs into ``folder`` and return their studies (splits: 70% train, 15% val, 15% test)."""
    from PIL import Image as PILImage

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = list(_FINDINGS)
    studies = []
    for i in range(n):
        label = names[i % len(names)] if i % 4 else None
        img = (rng.normal(90, 12, (size, size))).clip(0, 255)
        findings, labels = [], {"No Finding": 1} if label is None else {label: 1}
        cx, cy = rng.uniform(0.25, 0.75, 2) * size
        if label is not None:
            yy, xx = np.mgrid[:size, :size]
            r = size * 0.12
            img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] += 90
            findings.append(Finding(label, cx - r, cy - r, cx + r, cy + r))
        path = folder / f"s{i:03d}.png"
        PILImage.fromarray(img.clip(0, 255).astype(np.uint8)).save(path)
        scanpaths = []
        for reader in range(2):
            pts = rng.uniform(0.1, 0.9, (6, 2)) * size
            pts[2 + reader] = (cx, cy)
            t, fx = 0.0, []
            for x, y in pts:
                d = float(rng.uniform(0.15, 0.5))
                fx.append(Fixation(float(x), float(y), t, t + d))
                t += d + 0.03
            scanpaths.append(Scanpath(fx, (size, size), ScanpathSource.SIMULATED, f"r{reader}"))
        text = _FINDINGS[label] if label else "The lungs are clear."
        impression = label if label else "No acute cardiopulmonary process."
        split = "train" if i < int(n * 0.7) else ("val" if i < int(n * 0.85) else "test")
        studies.append(
            Study(
                id=f"s{i:03d}",
                image_path=str(path),
                report=Report(text, impression),
                scanpaths=scanpaths,
                findings=findings,
                labels=labels,
                split=split,
                dataset="synthetic-test",
            )
        )
    return studies


#: A model config small enough for unit tests (tiny random Llama base, 64 px images).
TINY_MODEL_CONFIG: dict = {
    "encoder": {"image_size": 64, "channels": [8, 16, 32, 32], "dim": 32},
    "gnn": {"hidden": 32, "heads": 2},
    "scanpath": {"d_model": 32, "n_heads": 2, "max_len": 8},
    "projector": {"hidden": 64},
    "llm": {"name_or_path": "tiny", "max_report_tokens": 48},
}
