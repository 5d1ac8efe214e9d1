"""MIMIC-CXR reports and labels (Johnson et al., 2019) as ``Study`` records.

Layout (PhysioNet ``mimic-cxr/2.0.0`` and ``mimic-cxr-jpg/2.0.0``)::

    files/p10/p10000032/s50414267.txt           the free-text report of one study
    files/p10/p10000032/s50414267/<dicom_id>.dcm (or .jpg)   its images
    mimic-cxr-2.0.0-chexpert.csv                subject_id, study_id, then the 14 CheXpert columns
                                                (1.0 positive, 0.0 negative, -1.0 uncertain, blank)
    mimic-cxr-2.0.0-negbio.csv                  same columns, NegBio labeler
    mimic-cxr-2.0.0-split.csv                   dicom_id, study_id, subject_id, split (train/validate/test)
    mimic-cxr-2.0.0-metadata.csv                dicom_id, ..., ViewPosition, Rows, Columns, ...

One ``Study`` per report (id ``s<study_id>``). The report is split into its sections the way
MIMIC-CXR's own section parser does it (upper-case ``NAME:`` headers); FINDINGS and IMPRESSION
(or CONCLUSION) become the :class:`Report`, the other sections go to ``metadata["sections"]``.
The image is a frontal view (PA, then AP) when the metadata CSV says which, else the study's
first image file. No gaze: MIMIC-CXR is what REFLACX and EGD-CXR were recorded on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ml.datasets._common import (
    DatasetError,
    chexpert_name,
    chexpert_value,
    normalise_split,
    read_csv_rows,
    to_float,
)
from ml.types import CHEXPERT_OBSERVATIONS, Report, Study

_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z &/()\-]{2,}?)[ \t]*:", re.MULTILINE)
_FINDINGS = ("FINDINGS",)
_IMPRESSION = ("IMPRESSION", "CONCLUSION", "SUMMARY")
_VIEW_ORDER = {"PA": 0, "AP": 1, "AP AXIAL": 2, "PA LLD": 3, "AP LLD": 3, "LATERAL": 8, "LL": 8}


def parse_report_text(text: str) -> tuple[Report, dict[str, str]]:
    """A MIMIC-CXR report → (Report with FINDINGS/IMPRESSION, {section name: text} for all sections).

    Text before the first header (often "FINAL REPORT") is dropped; line wraps are joined.
    A report with neither section keeps its last section as findings (what a reader would quote).
    """
    matches = list(_HEADER.finditer(text))
    sections: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = " ".join(m.group(1).split())
        body = " ".join(text[m.end() : end].split())
        sections[name] = (sections.get(name, "") + " " + body).strip()
    findings = next((sections[k] for k in _FINDINGS if sections.get(k)), "")
    impression = next((sections[k] for k in _IMPRESSION if sections.get(k)), "")
    if not findings and not impression:
        if sections:
            findings = list(sections.values())[-1]
        else:
            findings = " ".join(text.replace("FINAL REPORT", " ").split())
    return Report(findings=findings, impression=impression), sections


def read_label_csv(path: str | os.PathLike[str]) -> dict[str, dict[str, int | None]]:
    """``mimic-cxr-2.0.0-chexpert.csv`` (or ``-negbio``) → {study_id: {observation: 1/0/-1/None}}."""
    out: dict[str, dict[str, int | None]] = {}
    for row in read_csv_rows(path):
        study = _id(row.get("study_id"))
        if not study:
            continue
        labels: dict[str, int | None] = dict.fromkeys(CHEXPERT_OBSERVATIONS)
        for key, value in row.items():
            name = chexpert_name(key)
            if name is not None:
                labels[name] = chexpert_value(value)
        out[study] = labels
    if not out:
        raise DatasetError(f"{Path(path).name}: no study_id rows (not a MIMIC-CXR label file)")
    return out


def read_split_csv(path: str | os.PathLike[str]) -> dict[str, str]:
    """``mimic-cxr-2.0.0-split.csv`` → {study_id: train|val|test}."""
    return {_id(r.get("study_id")): normalise_split(r.get("split", "")) for r in read_csv_rows(path)}


def read_metadata_csv(path: str | os.PathLike[str]) -> dict[str, list[dict[str, str]]]:
    """``mimic-cxr-2.0.0-metadata.csv`` → {study_id: [image rows]} (dicom_id, ViewPosition, Rows, ...)."""
    out: dict[str, list[dict[str, str]]] = {}
    for row in read_csv_rows(path):
        out.setdefault(_id(row.get("study_id")), []).append(row)
    return out


def is_mimic_dir(path: str | os.PathLike[str]) -> bool:
    """Cheap check: MIMIC-CXR keeps its reports as ``files/p*/p*/s*.txt``."""
    files = Path(path) / "files"
    return files.is_dir() and next(files.glob("p*/p*/s*.txt"), None) is not None


def iter_mimic(
    root: str | os.PathLike[str],
    *,
    labels_csv: str | os.PathLike[str] | None = None,
    split_csv: str | os.PathLike[str] | None = None,
    metadata_csv: str | os.PathLike[str] | None = None,
    images_root: str | os.PathLike[str] | None = None,
) -> Iterator[Study]:
    """Yield one :class:`Study` per ``files/p*/p*/s*.txt`` report under ``root``.

    CSVs default to the ``mimic-cxr-2.0.0-*.csv`` files in ``root`` when present. ``images_root``
    (a MIMIC-CXR or MIMIC-CXR-JPG folder holding ``files/``) defaults to ``root``.
    """
    root = Path(root)
    files = root / "files"
    if not files.is_dir():
        raise DatasetError(f"{root} is not a MIMIC-CXR folder (no files/ with the reports)")
    labels = (
        read_label_csv(_default(root, labels_csv, "chexpert"))
        if _default(root, labels_csv, "chexpert")
        else {}
    )
    splits = read_split_csv(_default(root, split_csv, "split")) if _default(root, split_csv, "split") else {}
    meta_path = _default(root, metadata_csv, "metadata")
    images_meta = read_metadata_csv(meta_path) if meta_path else {}
    image_base = Path(images_root) if images_root is not None else root
    for report_path in sorted(files.glob("p*/p*/s*.txt")):
        yield _study(report_path, labels, splits, images_meta, image_base)


def load_mimic(
    root: str | os.PathLike[str],
    *,
    labels_csv: str | os.PathLike[str] | None = None,
    split_csv: str | os.PathLike[str] | None = None,
    metadata_csv: str | os.PathLike[str] | None = None,
    images_root: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> list[Study]:
    """All MIMIC-CXR reports under ``root`` as studies (see :func:`iter_mimic`)."""
    studies = iter_mimic(
        root, labels_csv=labels_csv, split_csv=split_csv, metadata_csv=metadata_csv, images_root=images_root
    )
    if progress:
        from tqdm import tqdm

        studies = tqdm(studies, desc="MIMIC-CXR reports", unit="report")
    return list(studies)


def _study(
    report_path: Path,
    labels: Mapping[str, dict[str, int | None]],
    splits: Mapping[str, str],
    images_meta: Mapping[str, list[dict[str, str]]],
    image_base: Path,
) -> Study:
    study_id = report_path.stem.lstrip("s")
    subject_id = report_path.parent.name.lstrip("p")
    try:
        text = report_path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DatasetError(f"{report_path}: cannot read ({e.strerror})") from e
    report, sections = parse_report_text(text)
    rel_dir = report_path.relative_to(report_path.parents[3]).with_suffix("")  # files/pXX/pXXXXXXXX/sXXXXXXXX
    image_path, view, dicom_id = _pick_image(image_base / rel_dir, images_meta.get(study_id, []))
    metadata: dict[str, Any] = {
        "study_id": study_id,
        "subject_id": subject_id,
        "sections": sections,
        "report_path": str(report_path),
    }
    if dicom_id:
        metadata["dicom_id"] = dicom_id
    if view:
        metadata["view_position"] = view
    return Study(
        id=f"s{study_id}",
        image_path=image_path,
        report=report,
        labels=dict(labels.get(study_id, {})),
        split=splits.get(study_id, ""),
        dataset="mimic-cxr",
        metadata=metadata,
    )


def _pick_image(folder: Path, rows: list[dict[str, str]]) -> tuple[str, str, str]:
    """(path, view, dicom_id) of the study's preferred frontal image, or ('', '', '')."""
    if rows:
        best = min(
            rows, key=lambda r: (_VIEW_ORDER.get(r.get("ViewPosition", "").upper(), 5), r.get("dicom_id", ""))
        )
        dicom_id = best.get("dicom_id", "")
        for ext in (".dcm", ".jpg", ".png"):
            if (folder / f"{dicom_id}{ext}").is_file():
                return str(folder / f"{dicom_id}{ext}"), best.get("ViewPosition", ""), dicom_id
        return str(folder / f"{dicom_id}.dcm"), best.get("ViewPosition", ""), dicom_id
    if folder.is_dir():
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".dcm", ".jpg", ".png"))
        if images:
            return str(images[0]), "", images[0].stem
    return "", "", ""


def _default(root: Path, given: str | os.PathLike[str] | None, kind: str) -> Path | None:
    if given is not None:
        return Path(given)
    for name in (f"mimic-cxr-2.0.0-{kind}.csv", f"mimic-cxr-2.0.0-{kind}.csv.gz"):
        if (root / name).is_file():
            return root / name
    return None


def _id(value: Any) -> str:
    number = to_float(value)
    if number is not None and float(number).is_integer():
        return str(int(number))
    return str(value or "").strip().lstrip("s")
