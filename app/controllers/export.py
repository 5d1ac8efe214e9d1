"""Exports of the open study on worker threads: text, JSON, draft→final pairs, DICOM SR, annotations.

Each export says how it went with one signal per outcome; a DICOM SR is read back with pydicom
before it is called written.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from app import workers
from app.annotation.tools import AnnotationController
from app.components.reading import ReadingSession
from app.report.panel import ReportPanel
from app.storage import StoreWorker

#: export kind -> file suffix
SUFFIX = {"txt": "txt", "json": "json", "sr": "dcm", "pairs": "jsonl", "ellipses": "csv", "sr-annotations": "dcm"}


class ExportController(QtCore.QObject):
    exported = QtCore.Signal(str, str)  # kind, the path written
    failed = QtCore.Signal(str, str)  # kind, why

    def __init__(
        self,
        session: ReadingSession,
        panel: ReportPanel,
        annotations: AnnotationController,
        store: StoreWorker,
        author: Callable[[], str],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.panel, self.annotations, self.store = session, panel, annotations, store
        self.author = author

    def default_name(self, kind: str) -> str:
        if kind == "ellipses":
            return "anomaly_location_ellipses.csv"
        study = self.session.study.id if self.session.study else "report"
        return f"{study.replace('/', '_')}_report.{SUFFIX[kind]}"

    def export(self, kind: str, path: str) -> None:
        from app.report import export

        s = self.session
        study, image, report = s.study, s.image, self.panel.editor.report()
        if study is None or image is None:
            self.failed.emit(kind, "no loaded study to export")
            return
        author, labels = self.author(), dict(s.labels)
        model = s.draft.model if s.draft else None
        domain = s.domain
        # the SR is verified only when it carries the signed text itself (not an addendum being written)
        signed = s.signed and not s.amending and not s.dirty
        version_id = s.latest.id if signed else None
        amends_id = getattr(s.latest, "amends", None) if signed else None
        ok, fail = self._callbacks(kind)
        if kind == "txt":
            workers.submit(lambda: export.export_text(path, report, f"Study: {study.id}"), ok, fail, context=self)
        elif kind == "json":
            scanpath = s.draft.scanpath if s.draft else None

            def build(store):
                versions = store.report_versions(study.id)
                data = export.report_json(study.id, report, versions, labels, model, scanpath, study.image_path)
                return export.export_json(path, data)

            self.store.call(build, ok, fail)
        elif kind == "pairs":
            self.store.call(lambda store: (export.export_pairs(store, path), path)[1], ok, fail)
        elif kind == "sr":

            def write_sr():
                from app.report.sr import read_back, report_sr

                out = report_sr(
                    image, report, path, author, signed, model, version_id=version_id, amends_id=amends_id, domain=domain
                )
                back = read_back(out)
                if back["texts"].get("Finding", "") != (report.findings or "(none)"):
                    raise RuntimeError("the written SR does not read back with the report text")
                return out

            workers.submit(write_sr, ok, fail, context=self)
        elif kind in ("ellipses", "sr-annotations"):
            self._annotations(kind, path)

    def _annotations(self, kind: str, path: str) -> None:
        """The reader's annotations as REFLACX ``anomaly_location_ellipses.csv`` or a TID 1500 SR."""
        findings = self.annotations.findings()
        if not findings:
            self.failed.emit(kind, "No annotations to export: draw some first (E, B, P, T)")
            return
        image, author = self.session.image, self.author()

        def run():
            if kind == "ellipses":
                from ml.datasets.reflacx import write_ellipses

                return write_ellipses(path, findings)
            from app.report.sr import annotations_sr, read_back

            out = annotations_sr(image, findings, path, author)
            if len(read_back(out)["graphic_types"]) != len(findings):
                raise RuntimeError("the written SR does not read back with every region")
            return out

        workers.submit(run, *self._callbacks(kind), context=self)

    def _callbacks(self, kind: str):
        return (
            lambda p: self.exported.emit(kind, str(p)),
            lambda exc: self.failed.emit(kind, workers.error_text(exc)),
        )
