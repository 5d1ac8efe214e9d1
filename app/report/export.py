"""Report exports that need no DICOM: plain text, JSON, and draft→final pairs (JSON Lines).

The pairs are what makes the radiologists' corrections useful later: each line holds the model's
first draft, the final (signed, else last edited) text, who and when, and the model and gaze
source that produced the draft, ready to fine-tune or evaluate on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.store import ReportOrigin
from ml.types import Report

SIGNED = (ReportOrigin.SIGNED, ReportOrigin.ADDENDUM)  # a signed report, or its signed correction


def export_text(path: str | Path, report: Report, header: str = "") -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text((header.strip() + "\n\n" if header.strip() else "") + report.text + "\n", encoding="utf-8")
    return out


def report_json(
    study_id: str,
    report: Report,
    versions: Sequence[Any] = (),
    labels: dict[str, int | None] | None = None,
    model: dict | None = None,
    scanpath: Any = None,
    image_path: str = "",
) -> dict[str, Any]:
    return {
        "study": study_id,
        "image": image_path,
        "findings": report.findings,
        "impression": report.impression,
        "text": report.text,
        "labels": labels or {},
        "model": model or {},
        "scanpath": [
            {"x": f.x, "y": f.y, "start": f.start, "end": f.end}
            for f in (scanpath.fixations if scanpath else [])
        ],
        "scanpath_source": getattr(getattr(scanpath, "source", None), "value", None),
        "versions": [
            {
                "version": v.version,
                "origin": v.origin,
                "author": v.author,
                "created_at": v.created_at,
                "bundle_id": v.bundle_id,
                "scanpath_source": v.scanpath_source,
                "text": v.text,
            }
            for v in versions
        ],
    }


def export_json(path: str | Path, data: dict[str, Any]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return out


def draft_final_pair(study_uid: str, versions: Sequence[Any]) -> dict[str, Any] | None:
    """The first model draft and the final text of one study (None when either is missing)."""
    drafts = [v for v in versions if v.origin == ReportOrigin.MODEL]
    finals = [v for v in versions if v.origin in SIGNED] or [v for v in versions if v.origin == ReportOrigin.HUMAN]
    if not drafts or not finals:
        return None
    d, f = drafts[0], finals[-1]
    return {
        "study": study_uid,
        "draft": d.text,
        "final": f.text,
        "signed": f.origin in SIGNED,
        "author": f.author,
        "final_at": f.created_at,
        "bundle_id": d.bundle_id,
        "scanpath_source": d.scanpath_source,
        "edited": d.text.strip() != f.text.strip(),
    }


def export_pairs(store, path: str | Path) -> int:
    """Write every study's draft→final pair to JSON Lines (store thread); returns how many."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for st in store.studies():
            pair = draft_final_pair(st.uid, store.report_versions(st.id))
            if pair is not None:
                fh.write(json.dumps(pair, ensure_ascii=False) + "\n")
                n += 1
    return n
