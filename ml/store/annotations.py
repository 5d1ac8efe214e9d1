"""The store's annotations: findings readers draw on a study's image (image pixels)."""

from __future__ import annotations

import json
from typing import Any

from ml.store.connection import StoreError, now_iso
from ml.store.records import AnnotationRecord
from ml.store.schema import AnnotationShape, StoreErrorKind
from ml.store.studies import Studies
from ml.types import Finding


class Annotations(Studies):
    """Annotations per study, optionally per reader."""

    def add_annotation(self, study: int | str, finding: Finding, reader: str = "", sentence: str = "") -> int:
        """Store a finding drawn on the image (image pixels); returns its id."""
        self._check_finding(finding)
        study_id = self.add_study(study) if isinstance(study, str) else study
        reader_id = self.reader_id(reader) if reader else None
        stamp = now_iso()
        cur = self._x(
            "INSERT INTO annotations(study_id, reader_id, label, certainty, shape, x0, y0, x1, y1, points,"
            " sentence, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (study_id, reader_id, *self._finding_cols(finding), sentence, stamp, stamp),
        )
        return int(cur.lastrowid)

    def update_annotation(self, annotation_id: int, finding: Finding, sentence: str | None = None) -> None:
        self._check_finding(finding)
        cur = self._x(
            "UPDATE annotations SET label=?, certainty=?, shape=?, x0=?, y0=?, x1=?, y1=?, points=?,"
            " sentence=COALESCE(?, sentence), updated_at=? WHERE id=?",
            (*self._finding_cols(finding), sentence, now_iso(), annotation_id),
        )
        if cur.rowcount == 0:
            raise StoreError(f"No annotation {annotation_id}.", kind=StoreErrorKind.MISSING)

    def link_sentence(self, annotation_id: int, sentence: str) -> None:
        self._x(
            "UPDATE annotations SET sentence=?, updated_at=? WHERE id=?", (sentence, now_iso(), annotation_id)
        )

    def delete_annotation(self, annotation_id: int) -> None:
        self._x("DELETE FROM annotations WHERE id=?", (annotation_id,))

    def annotations(self, study: int | str, reader: str | None = None) -> list[AnnotationRecord]:
        study_id = self._find_study(study)
        if study_id is None:
            return []
        sql = (
            "SELECT a.*, COALESCE(r.name, '') AS reader_name FROM annotations a "
            "LEFT JOIN readers r ON r.id = a.reader_id WHERE a.study_id=?"
        )
        params: list[Any] = [study_id]
        if reader is not None:
            sql += " AND COALESCE(r.name, '')=?"
            params.append(reader)
        out = []
        for r in self._q(sql + " ORDER BY a.id", params):
            finding = Finding(
                r["label"],
                r["x0"],
                r["y0"],
                r["x1"],
                r["y1"],
                AnnotationShape(r["shape"]),
                r["certainty"],
                [tuple(p) for p in json.loads(r["points"])],
            )
            out.append(
                AnnotationRecord(
                    r["id"],
                    r["study_id"],
                    finding,
                    r["reader_name"],
                    r["sentence"],
                    r["created_at"],
                    r["updated_at"],
                )
            )
        return out

    @staticmethod
    def _check_finding(f: Finding) -> None:
        if f.shape not in AnnotationShape.values():
            raise StoreError(f"Unknown annotation shape {f.shape!r}.", kind=StoreErrorKind.INVALID)
        if not 1 <= int(f.certainty) <= 5:
            raise StoreError(f"Certainty must be 1..5, got {f.certainty}.", kind=StoreErrorKind.INVALID)
        if not f.label:
            raise StoreError("An annotation needs a label.", kind=StoreErrorKind.INVALID)

    @staticmethod
    def _finding_cols(f: Finding) -> tuple:
        return (
            f.label,
            int(f.certainty),
            AnnotationShape(f.shape).value,
            float(f.x0),
            float(f.y0),
            float(f.x1),
            float(f.y1),
            json.dumps([[float(x), float(y)] for x, y in f.points]),
        )
