"""The store's report versions: the audit trail of who drafted, edited, signed and amended what.

Versions are only ever appended; the database refuses anything else (``ml.store.schema``), and
this module says why in plain words before the database has to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ml.store.connection import StoreError, now_iso, to_json
from ml.store.records import ReportVersion
from ml.store.schema import ReportOrigin, StoreErrorKind
from ml.store.studies import Studies
from ml.types import Report


class Reports(Studies):
    """Report versions per study, oldest first."""

    def add_report_version(
        self,
        study: int | str,
        text: str | Report,
        origin: ReportOrigin | str,
        author: str = "",
        *,
        bundle_id: str = "",
        scanpath_source: str = "",
        ai_context: Any = None,
        amends: int | None = None,
        image_sha256: str = "",
    ) -> ReportVersion:
        """Append a version of the study's report (versions are never changed, removed or replaced).

        ``ai_context`` (a JSON-able dict or dataclass, model drafts) is what the workstation needs
        to restore the draft's AI context; ``image_sha256`` the image file's hash at signing. Signed
        is final: once the study has a signed version, only an ``addendum`` may follow, and it
        ``amends`` (by id) the latest signed or addendum version; anything else is a ``StoreError``
        of kind ``signed``.
        """
        try:
            origin = ReportOrigin(origin)
        except ValueError as exc:
            raise StoreError(str(exc), kind=StoreErrorKind.INVALID) from None
        if origin == ReportOrigin.MODEL and not bundle_id:
            raise StoreError("A model draft must name the bundle that wrote it.", kind=StoreErrorKind.INVALID)
        if amends is not None and origin != ReportOrigin.ADDENDUM:
            raise StoreError(f"Only an addendum amends a version, not a {origin} version.", kind=StoreErrorKind.INVALID)
        sha = _image_sha256(image_sha256)
        context = None if ai_context is None else _context_json(ai_context)
        study_id = self.add_study(study) if isinstance(study, str) else study
        body = text.text if isinstance(text, Report) else str(text)
        with self.transaction():
            last = self.conn.execute(
                "SELECT id, version FROM report_versions WHERE study_id=? ORDER BY version DESC LIMIT 1",
                (study_id,),
            ).fetchone()
            self._check_signed_is_final(study, study_id, origin, amends)
            cur = self.conn.execute(
                "INSERT INTO report_versions(study_id, version, text, origin, author, created_at, bundle_id,"
                " scanpath_source, parent_id, ai_context, amends, image_sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    study_id,
                    (last[1] + 1) if last else 1,
                    body,
                    origin.value,
                    author,
                    now_iso(),
                    bundle_id,
                    scanpath_source,
                    last[0] if last else None,
                    context,
                    amends,
                    sha,
                ),
            )
            rid = int(cur.lastrowid)
        return self._report_versions("WHERE id=?", (rid,))[0]

    def _check_signed_is_final(
        self, study: int | str, study_id: int, origin: ReportOrigin, amends: int | None
    ) -> None:
        """The database's signed-is-final rule, said in words a status bar can show."""
        final = self._final_row(study_id)
        if final is None:
            if origin == ReportOrigin.ADDENDUM:
                raise StoreError(
                    f"An addendum amends a signed report, and study {study!r} has none.",
                    kind=StoreErrorKind.INVALID,
                )
            return
        if origin != ReportOrigin.ADDENDUM:
            raise StoreError(
                f"The report of study {study!r} is signed (version {final[1]}) and final; "
                "a correction must be an addendum that amends it.",
                kind=StoreErrorKind.SIGNED,
            )
        if amends != final[0]:
            raise StoreError(
                f"An addendum must amend the latest signed version of study {study!r} "
                f"(id {final[0]}, version {final[1]}), not id {amends}.",
                kind=StoreErrorKind.SIGNED,
            )

    def _final_row(self, study_id: int) -> tuple[int, int] | None:
        """(id, version) of the study's latest signed or addendum version."""
        return self.conn.execute(
            "SELECT id, version FROM report_versions WHERE study_id=? AND origin IN (?, ?)"
            " ORDER BY version DESC LIMIT 1",
            (study_id, ReportOrigin.SIGNED.value, ReportOrigin.ADDENDUM.value),
        ).fetchone()

    def report_versions(self, study: int | str) -> list[ReportVersion]:
        """All versions of the study's report, oldest first ([] for an unknown study)."""
        study_id = self._find_study(study)
        if study_id is None:
            return []
        return self._report_versions("WHERE study_id=? ORDER BY version", (study_id,))

    def latest_report(self, study: int | str) -> ReportVersion | None:
        versions = self.report_versions(study)
        return versions[-1] if versions else None

    def signed_report(self, study: int | str) -> ReportVersion | None:
        """The study's final report: its latest signed or addendum version (None while unsigned)."""
        finals = [v for v in self.report_versions(study) if v.final]
        return finals[-1] if finals else None

    def _report_versions(self, where: str, params: Sequence[Any]) -> list[ReportVersion]:
        return [
            ReportVersion(
                r["id"],
                r["study_id"],
                r["version"],
                r["text"],
                ReportOrigin(r["origin"]),
                r["author"],
                r["created_at"],
                r["bundle_id"],
                r["scanpath_source"],
                r["parent_id"],
                None if r["ai_context"] is None else json.loads(r["ai_context"]),
                r["amends"],
                r["image_sha256"],
            )
            for r in self._q("SELECT * FROM report_versions " + where, params)
        ]


def _image_sha256(value: str) -> str:
    sha = (value or "").strip().lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise StoreError(
            f"An image hash is a sha256 of 64 hexadecimal digits, not {value!r}.", kind=StoreErrorKind.INVALID
        )
    return sha


def _context_json(ai_context: Any) -> str:
    try:
        return to_json(ai_context)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"The AI context cannot be stored as JSON: {exc}.", kind=StoreErrorKind.INVALID) from None
