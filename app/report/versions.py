"""The versions dialog: every stored version (origin, who, when) and a diff between any two
(by default the model's first draft against the latest text)."""

from __future__ import annotations

import difflib
import html
from collections.abc import Sequence

from PySide6 import QtWidgets

from app import theme
from ml.store import ReportOrigin

ORIGIN_TEXT = {
    ReportOrigin.MODEL: "model draft",
    ReportOrigin.HUMAN: "edit",
    ReportOrigin.SIGNED: "signed",
    ReportOrigin.ADDENDUM: "signed addendum",
}


def diff_html(a: str, b: str) -> str:
    """Word-level diff: deletions struck through in red, insertions in green."""
    wa, wb = a.split(), b.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape(" ".join(wa[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(
                f"<span style='color:{theme.BAD}; text-decoration: line-through'>{html.escape(' '.join(wa[i1:i2]))}</span>"
            )
        if op in ("insert", "replace"):
            out.append(
                f"<span style='color:{theme.OK}; font-weight:bold'>{html.escape(' '.join(wb[j1:j2]))}</span>"
            )
    return " ".join(out)


class VersionsDialog(QtWidgets.QDialog):
    def __init__(self, versions: Sequence, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Report versions")
        self.resize(900, 560)
        self.versions = list(versions)
        self.table = QtWidgets.QTableWidget(len(self.versions), 4)
        self.table.setHorizontalHeaderLabels(["Version", "Origin", "Who", "When (UTC)"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, v in enumerate(self.versions):
            origin = ORIGIN_TEXT[ReportOrigin(v.origin)]
            if v.origin == ReportOrigin.ADDENDUM and getattr(v, "amends", None) is not None:
                amended = next((o.version for o in self.versions if o.id == v.amends), "?")
                origin += f" (amends v{amended})"
            if v.origin == ReportOrigin.MODEL and v.scanpath_source:
                origin += f" ({v.scanpath_source} gaze)"
            for c, text in enumerate([str(v.version), origin, v.author, v.created_at.replace("T", " ")[:19]]):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.resizeColumnsToContents()
        self.a = QtWidgets.QComboBox()
        self.b = QtWidgets.QComboBox()
        for v in self.versions:
            label = f"v{v.version} {v.origin}"
            self.a.addItem(label)
            self.b.addItem(label)
        drafts = [i for i, v in enumerate(self.versions) if v.origin == ReportOrigin.MODEL]
        self.a.setCurrentIndex(drafts[0] if drafts else 0)
        self.b.setCurrentIndex(max(len(self.versions) - 1, 0))
        self.a.currentIndexChanged.connect(self._update)
        self.b.currentIndexChanged.connect(self._update)
        self.view = QtWidgets.QTextBrowser()
        self.view.setObjectName("diffView")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Diff from"))
        row.addWidget(self.a)
        row.addWidget(QtWidgets.QLabel("to"))
        row.addWidget(self.b)
        row.addStretch(1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.table, 2)
        lay.addLayout(row)
        lay.addWidget(self.view, 3)
        self._update()

    def _update(self) -> None:
        if not self.versions:
            self.view.setHtml("<i>No versions yet.</i>")
            return
        a = self.versions[self.a.currentIndex()].text
        b = self.versions[self.b.currentIndex()].text
        self.view.setHtml(f"<div style='font-size:11pt; line-height:150%'>{diff_html(a, b)}</div>")
