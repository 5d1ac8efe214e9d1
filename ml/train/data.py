"""Studies → tensors the stages train on, prepared once per run (images decoded and resized once).

Any loader that yields ``ml.types.Study`` works (the synthetic cohort, REFLACX, EGD-CXR). A study
gives: the image (``image_path``), CheXpert labels, localised findings (ellipses/boxes → one
low-resolution mask per observation for the encoder's localisation task), one or more reader
scanpaths (image pixels, seconds) and the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ml.types import CHEXPERT_OBSERVATIONS, Study


class DataError(RuntimeError):
    """The training data cannot be found or read; the message says what to do."""


@dataclass
class Prepared:
    """All studies of one split as tensors (images as uint8 to keep memory small)."""

    ids: list[str]
    images: torch.Tensor  # (N, 1, S, S) uint8
    sizes: list[tuple[int, int]]  # original (width, height)
    labels: torch.Tensor  # (N, n_labels) float 0/1
    label_mask: torch.Tensor  # (N, n_labels) 1 where the label is known (uncertain -1 → 0)
    loc: torch.Tensor  # (N, n_labels, g, g) float masks of the findings
    scanpaths: list[list[torch.Tensor]]  # per study, per reader: (k, 4) normalised x, y, start, end
    reports: list[str]
    px_per_deg: list[float | None]
    splits: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: list[int]) -> Prepared:
        return Prepared(
            [self.ids[i] for i in idx],
            self.images[idx],
            [self.sizes[i] for i in idx],
            self.labels[idx],
            self.label_mask[idx],
            self.loc[idx],
            [self.scanpaths[i] for i in idx],
            [self.reports[i] for i in idx],
            [self.px_per_deg[i] for i in idx],
            [self.splits[i] for i in idx] if self.splits else [],
        )

    def float_images(self, idx: list[int] | torch.Tensor) -> torch.Tensor:
        return self.images[idx].float().div_(255.0)


def load_studies(cohort: str | Path) -> list[Study]:
    """Studies from a cohort (``python main.py cohort --out DIR``) or a REFLACX-style directory.

    A cohort is read per case: the image, every simulated reader's scanpath, the ground-truth
    report (it mentions every finding) and labels. A REFLACX-shaped folder is read per reading.
    """
    root = Path(cohort)
    if not root.exists():
        raise DataError(
            f"cohort directory not found: {root} (make one with `python main.py cohort --out {root}`)"
        )
    if (root / "cases.csv").exists():
        from ml.cohort.load import load_cohort

        studies = load_cohort(root, per="case")
        for s in studies:
            ppd = _cohort_px_per_deg(root, s.id)
            if ppd:
                s.metadata.setdefault("px_per_deg", ppd)
        return studies
    try:
        from ml.datasets.reflacx import load_studies as load_reflacx
    except ImportError as exc:  # pragma: no cover - part of the project
        raise DataError("no loader for this folder") from exc
    studies = list(load_reflacx(root))
    if not studies:
        raise DataError(f"no studies found in {root}")
    return studies


#: The split of studies that only pre-train the encoder (``train.encoder_cohorts``).
ENCODER_ONLY = "encoder_only"


def as_encoder_only(studies: list[Study], source: str) -> list[Study]:
    """``studies`` as encoder pre-training data: split ``ENCODER_ONLY``, ids prefixed ``source/``
    (every cohort names its cases C00000 ...)."""
    return [dataclasses.replace(s, id=f"{source}/{s.id}", split=ENCODER_ONLY) for s in studies]


def image_px_per_deg(fixations_csv: Path) -> float | None:
    """Image pixels per degree of visual angle from a REFLACX-layout fixations file.

    REFLACX's ``angular_resolution_x_pixels_per_degree`` counts *image* pixels per degree (it
    changes with zoom), which is what the foveal window needs.
    """
    import csv

    try:
        with open(fixations_csv, newline="") as f:
            row = next(csv.DictReader(f))
        ppd = float(row["angular_resolution_x_pixels_per_degree"])
    except (OSError, StopIteration, KeyError, ValueError):
        return None
    return ppd if ppd > 0 else None


def _cohort_px_per_deg(root: Path, case_id: str) -> float | None:
    for folder in sorted((root / "main_data").glob(f"{case_id}_*")):
        ppd = image_px_per_deg(folder / "fixations.csv")
        if ppd:
            return ppd
    return None


def _label_vectors(study: Study, names: tuple[str, ...]) -> tuple[list[float], list[float]]:
    vals, mask = [], []
    for name in names:
        v = study.labels.get(name)
        if v == -1:
            vals.append(0.0)
            mask.append(0.0)
        else:
            vals.append(1.0 if v == 1 else 0.0)  # not mentioned = absent in a ground-truth cohort
            mask.append(1.0)
    return vals, mask


def _finding_masks(study: Study, size: tuple[int, int], grid: int, names: tuple[str, ...]) -> torch.Tensor:
    """One (grid, grid) mask per observation: the union of its ellipses/boxes, in normalised coords."""
    out = torch.zeros(len(names), grid, grid)
    w, h = size
    c = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    for f in study.findings:
        if f.label not in names:
            continue
        x0, x1 = sorted((f.x0 / w, f.x1 / w))
        y0, y1 = sorted((f.y0 / h, f.y1 / h))
        # A finding smaller than a cell still marks the cell it sits in.
        half = 0.5 / grid
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = max((x1 - x0) / 2, half), max((y1 - y0) / 2, half)
        if f.shape == "box":
            m = ((gx - cx).abs() <= rx) & ((gy - cy).abs() <= ry)
        else:
            m = ((gx - cx) / rx) ** 2 + ((gy - cy) / ry) ** 2 <= 1.0
        i = names.index(f.label)
        out[i] = torch.maximum(out[i], m.float())
    return out


def _table(scanpath, size: tuple[int, int]) -> torch.Tensor:
    from ml.models.gaze2report import scanpath_to_table

    return scanpath_to_table(scanpath)


#: Bump when what ``prepare`` derives from a study changes, so cached tensors are rebuilt.
PREPARED_VERSION = 2


def prepare(
    studies: list[Study],
    image_size: int,
    grid: int,
    names: tuple[str, ...] = CHEXPERT_OBSERVATIONS,
    cache: Path | None = None,
    progress: bool = True,
) -> Prepared:
    """Decode, window and resize every image once; optionally cache the result on disk."""
    key = hashlib.sha256(
        json.dumps(
            [PREPARED_VERSION, image_size, grid, names, [(s.id, s.image_path, s.split) for s in studies]]
        ).encode()
    ).hexdigest()[:16]
    if cache is not None:
        f = Path(cache) / f"prepared-{key}.pt"
        if f.exists():
            return torch.load(f, weights_only=False)
    from tqdm.auto import tqdm

    from ml.imaging import load_image
    from ml.models.gaze2report import preprocess, px_per_deg_of

    images, sizes, labels, masks, locs, paths, reports, ppd, splits = [], [], [], [], [], [], [], [], []
    for s in tqdm(studies, desc="prepare images", disable=not progress, leave=False):
        try:
            img = load_image(s.image_path)
        except Exception as exc:
            raise DataError(f"study {s.id}: cannot read image {s.image_path}: {exc}") from exc
        size = img.size
        images.append((preprocess(img, image_size)[0] * 255.0).round().to(torch.uint8))
        sizes.append(size)
        v, m = _label_vectors(s, names)
        labels.append(v)
        masks.append(m)
        locs.append(_finding_masks(s, size, grid, names))
        paths.append([_table(sp, size) for sp in s.scanpaths if len(sp)])
        reports.append(s.report.text if s.report else "")
        ppd.append(px_per_deg_of(s.metadata) or px_per_deg_of(img.metadata))
        splits.append(s.split)
    prepared = Prepared(
        [s.id for s in studies],
        torch.stack(images) if images else torch.zeros(0, 1, image_size, image_size, dtype=torch.uint8),
        sizes,
        torch.tensor(labels, dtype=torch.float32).reshape(-1, len(names)),
        torch.tensor(masks, dtype=torch.float32).reshape(-1, len(names)),
        torch.stack(locs) if locs else torch.zeros(0, len(names), grid, grid),
        paths,
        reports,
        ppd,
        splits,
    )
    if cache is not None:
        Path(cache).mkdir(parents=True, exist_ok=True)
        torch.save(prepared, Path(cache) / f"prepared-{key}.pt")
    return prepared


def split_indices(prepared: Prepared) -> dict[str, list[int]]:
    """Indices per split; without a val split, the last 10% of train (at least one) validates."""
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, s in enumerate(prepared.splits):
        out.setdefault(s or "train", []).append(i)
    if not out["val"] and len(out["train"]) > 1:
        n = max(1, len(out["train"]) // 10)
        out["val"], out["train"] = out["train"][-n:], out["train"][:-n]
    return out
