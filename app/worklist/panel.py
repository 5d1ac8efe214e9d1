"""The worklist panel: studies with their status (new, draft ready, edited, signed; gaze; prediction).

Status comes from the database (``study_status`` runs on the store thread); the panel only shows it.
Keyboard: Up/Down select, Enter opens; the window binds PgDown/PgUp to next/previous study.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

from app import theme
from app.components.reading import ReportState, report_state
from ml.store import ReportOrigin, SessionStatus
from ml.types import ScanpathSource, Study

_COLOURS = {
    ReportState.NEW: theme.MUTED,
    ReportState.DRAFT_READY: theme.ACCENT,
    ReportState.EDITED: theme.WARN,
    ReportState.SIGNED: theme.OK,
    ReportState.AMENDED: theme.OK,
}


@dataclass
class StudyStatus:
    report: ReportState = ReportState.NEW
    sessions: int = 0  # recorded gaze sessions in the database
    prediction: bool = False  # a model draft conditioned on predicted gaze exists
    dataset_gaze: int = 0  # scanpaths that came with the data (REFLACX / cohort readers)
    out_of_domain: bool = False  # the latest model draft's domain check flagged the image

    def badges(self) -> str:
        out = [self.report.value] + (["⚠ out of domain"] if self.out_of_domain else [])
        if self.sessions:
            out.append(f"{self.sessions} gaze session{'s' if self.sessions > 1 else ''}")
        if self.dataset_gaze:
            out.append(f"dataset gaze ×{self.dataset_gaze}")
        if self.prediction:
            out.append("prediction")
        return " · ".join(out)


def study_status(store, uid: str) -> StudyStatus:
    """Read one study's status (store thread)."""
    from ml.store import StoreError

    try:
        versions = store.report_versions(uid)
    except StoreError:
        return StudyStatus()
    st = StudyStatus(report=report_state(versions))
    drafts = [v for v in versions if v.origin == ReportOrigin.MODEL and v.ai_context]
    if drafts:
        domain = drafts[-1].ai_context.get("domain")
        st.out_of_domain = bool(domain) and not domain["in_domain"]
    if versions:
        st.prediction = any(
            v.origin == ReportOrigin.MODEL and v.scanpath_source == ScanpathSource.PREDICTED for v in versions
        )
    st.sessions = len(store.sessions(uid, status=SessionStatus.COMPLETED))
    return st


class WorklistPanel(QtWidgets.QWidget):
    study_activated = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QtWidgets.QLineEdit()
        self.filter.setPlaceholderText("Filter studies…")
        self.filter.textChanged.connect(self._apply_filter)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("worklist")
        self.list.setWordWrap(True)  # a study's badges wrap instead of scrolling sideways
        self.list.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemActivated.connect(lambda it: self.study_activated.emit(self.list.row(it)))
        self.list.itemClicked.connect(lambda it: self.study_activated.emit(self.list.row(it)))
        self.count = QtWidgets.QLabel("")
        self.count.setObjectName("muted")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.filter)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.count)
        self.studies: list[Study] = []
        self.statuses: dict[str, StudyStatus] = {}

    def set_studies(self, studies: Iterable[Study]) -> None:
        self.studies = list(studies)
        self.list.clear()
        for s in self.studies:
            item = QtWidgets.QListWidgetItem()
            self.list.addItem(item)
            self._render(item, s)
        self.count.setText(f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'}")

    def set_status(self, uid: str, status: StudyStatus) -> None:
        self.statuses[uid] = status
        for i, s in enumerate(self.studies):
            if s.id == uid:
                self._render(self.list.item(i), s)

    def _render(self, item: QtWidgets.QListWidgetItem, study: Study) -> None:
        st = self.statuses.get(study.id, StudyStatus(dataset_gaze=len(study.scanpaths)))
        st.dataset_gaze = len(study.scanpaths)
        item.setText(f"{study.id}\n{study.dataset or 'file'} · {st.badges()}")
        item.setForeground(QtGui.QBrush(QtGui.QColor(theme.TEXT)))
        item.setIcon(QtGui.QIcon(theme.dot(_COLOURS.get(st.report, theme.MUTED), 12)))
        item.setToolTip(study.image_path)
        item.setData(QtCore.Qt.ItemDataRole.UserRole, study.id)

    def select(self, index: int) -> None:
        if 0 <= index < self.list.count():
            self.list.blockSignals(True)
            self.list.setCurrentRow(index)
            self.list.blockSignals(False)

    def _apply_filter(self, text: str) -> None:
        t = text.lower().strip()
        for i, s in enumerate(self.studies):
            self.list.item(i).setHidden(bool(t) and t not in s.id.lower() and t not in s.dataset.lower())
