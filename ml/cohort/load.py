"""Read a cohort folder back as ``ml.types.Study`` records (per reading or per image).

Per reading (the training unit, like a REFLACX id) this is ``ml.datasets.reflacx.load_reflacx``
(the cohort mirrors REFLACX, so one loader reads both): the image, that reader's scanpath and
report, the ellipses that reader marked and the CheXpert labels of that report. Per case (the
cohort's own ground truth): the image, every reader's scanpath, the reference report that mentions
every finding, and the true labels.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml.cohort.build import CohortError, read_table
from ml.datasets.reflacx import REFLACX_TO_CHEXPERT
from ml.types import CHEXPERT_OBSERVATIONS, Finding, Report, ScanpathSource, Study

_NON_LABEL = {"xmin", "ymin", "xmax", "ymax", "certainty"}


def _ellipses(path: Path) -> list[Finding]:
    out = []
    for row in read_table(path):
        names = [k for k, v in row.items() if k not in _NON_LABEL and v == "True"]
        for name in names or ["Other"]:
            out.append(
                Finding(
                    REFLACX_TO_CHEXPERT.get(name, name),  # as the REFLACX loader: one vocabulary downstream
                    float(row["xmin"]),
                    float(row["ymin"]),
                    float(row["xmax"]),
                    float(row["ymax"]),
                    "ellipse",
                    int(float(row.get("certainty") or 5)),
                )  # fmt: skip
            )
    return out


def _labels(row: dict[str, str], prefix: str = "") -> dict[str, int | None]:
    return {k: int(float(row[prefix + k])) for k in CHEXPERT_OBSERVATIONS if row.get(prefix + k, "") != ""}


def load_cohort(root: str | os.PathLike[str], per: str = "reading", split: str | None = None) -> list[Study]:
    """Studies of a cohort made by ``build_cohort`` (``per``: "reading" or "case")."""
    from ml.gaze.io import read_scanpath

    root = Path(root)
    if per not in ("reading", "case"):
        raise CohortError(f"per must be 'reading' or 'case', got {per!r}")
    if per == "reading":  # the one loader of REFLACX-shaped folders knows the cohort's columns
        from ml.datasets.reflacx import load_reflacx

        studies = [st for st in load_reflacx(root) if split is None or st.split == split]
        for st in studies:
            st.metadata.setdefault("case_id", st.metadata.get("dicom_id", ""))
        return studies
    studies: list[Study] = []
    cases = {r["case_id"]: r for r in read_table(root / "cases.csv")}
    readings = read_table(root / "main_data" / "metadata_phase_cohort.csv")
    by_case: dict[str, list[dict[str, str]]] = {}
    for r in readings:
        by_case.setdefault(r["dicom_id"], []).append(r)
    for cid, c in cases.items():
        if split and c["split"] != split:
            continue
        size = (int(c["image_size_x"]), int(c["image_size_y"]))
        sps = [
            read_scanpath(
                root / "main_data" / r["id"] / "fixations.csv", size, ScanpathSource.SIMULATED, r["reader"]
            )
            for r in by_case.get(cid, [])
        ]
        gt = root / "ground_truth" / cid
        studies.append(
            Study(
                id=cid,
                image_path=str(root / c["image"]),
                report=Report.parse((gt / "report.txt").read_text()),
                scanpaths=sps,
                findings=_ellipses(gt / "anomaly_location_ellipses.csv"),
                labels=_labels(c),
                split=c["split"],
                dataset="cohort",
                metadata={
                    "png": str(root / c["png"]),
                    "ctr": float(c["ctr"]),
                    "kinds": c["kinds"],
                    "masks": str(gt / "masks.npz"),
                    "view": c["view"],
                },
            )  # fmt: skip
        )
    return studies
