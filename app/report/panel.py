"""The right-hand report panel: state line, model badge, the editor, finding chips and the actions."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app import theme
from app.report.editor import ReportEditor
from app.report.sr import domain_text
from ml.contracts import DomainCheck, Draft, EncoderFinding

OUT_OF_DOMAIN = "⚠ This image is unlike the model's training images: the draft is unreliable."

#: Labeler value -> (text, colour) for the finding chips.
CHIP_STYLE = {
    1: ("positive", theme.BAD),
    -1: ("uncertain", theme.WARN),
    0: ("negative", theme.OK),
}


class FlowRow(QtWidgets.QWidget):
    """Chips that wrap onto several lines."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QtWidgets.QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.widgets: list[QtWidgets.QWidget] = []

    def set_widgets(self, widgets: list[QtWidgets.QWidget], per_row: int = 2) -> None:
        for w in self.widgets:
            w.setParent(None)
            w.deleteLater()
        self.widgets = list(widgets)
        for i, w in enumerate(self.widgets):
            self._layout.addWidget(w, i // per_row, i % per_row)


def follow(button: QtWidgets.QAbstractButton, action: QtGui.QAction) -> None:
    """The button triggers ``action`` and is enabled exactly when it is (one command, one state)."""
    button.clicked.connect(action.trigger)
    action.changed.connect(lambda: button.setEnabled(action.isEnabled()))
    button.setEnabled(action.isEnabled())


class ReportPanel(QtWidgets.QWidget):
    generate_requested = QtCore.Signal(str)  # GazeChoice value: "predicted" | "recorded"
    stop_requested = QtCore.Signal()
    export_requested = QtCore.Signal(str)  # an export kind (app.controllers.export.SUFFIX)
    versions_requested = QtCore.Signal()
    chip_clicked = QtCore.Signal(str)  # observation name

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QtWidgets.QLabel("Report")
        self.title.setObjectName("panelTitle")
        self.state = QtWidgets.QLabel("No study")
        self.state.setObjectName("muted")
        self.state.setWordWrap(True)
        self.badge = QtWidgets.QLabel("")
        self.badge.setWordWrap(True)
        self.badge.setObjectName("muted")
        self.domain_banner = QtWidgets.QLabel(OUT_OF_DOMAIN)
        self.domain_banner.setObjectName("domainBanner")
        self.domain_banner.setWordWrap(True)
        self.domain_banner.hide()
        self.suspected = QtWidgets.QLabel("")
        self.suspected.setWordWrap(True)
        self.suspected.setObjectName("muted")
        self.editor = ReportEditor()
        self.chips = FlowRow()
        chips_title = QtWidgets.QLabel("FINDINGS READ BY THE LABELER")
        chips_title.setObjectName("sectionTitle")
        self.chips_title = chips_title

        self.generate_btn = QtWidgets.QToolButton()
        self.generate_btn.setText("Draft")
        self.generate_btn.setToolTip(
            "Generate a draft (G): with the recorded gaze when there is one, else predicted gaze"
        )
        self.generate_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QtWidgets.QMenu(self.generate_btn)
        self.act_gen_pred = menu.addAction("Regenerate with predicted gaze")
        self.act_gen_real = menu.addAction("Regenerate with the recorded gaze")
        self.act_gen_pred.triggered.connect(lambda: self.generate_requested.emit("predicted"))
        self.act_gen_real.triggered.connect(lambda: self.generate_requested.emit("recorded"))
        self.generate_btn.setMenu(menu)
        self.stop_btn = QtWidgets.QPushButton("Stop")
        self.stop_btn.clicked.connect(self.stop_requested)
        self.save_btn = QtWidgets.QPushButton("Save")
        self.save_btn.setToolTip("Keep this text as a new version (Ctrl+S)")
        self.sign_btn = QtWidgets.QPushButton("Sign")
        self.sign_btn.setObjectName("primary")
        self.sign_btn.setToolTip("Sign the report: it becomes final (Ctrl+Shift+S)")
        self.signer = QtWidgets.QLabel("")
        self.signer.setObjectName("muted")
        self.amend_btn = QtWidgets.QPushButton("Addendum")
        self.amend_btn.setToolTip("Correct the signed report with a signed addendum (Ctrl+Shift+A)")
        self.versions_btn = QtWidgets.QPushButton("Versions")
        self.versions_btn.setToolTip("Every version with who and when; diff draft vs final")
        self.versions_btn.clicked.connect(self.versions_requested)
        self.export_btn = QtWidgets.QToolButton()
        self.export_btn.setText("Export")
        self.export_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        emenu = QtWidgets.QMenu(self.export_btn)
        for key, label in (
            ("txt", "Report as text…"),
            ("json", "Report as JSON…"),
            ("sr", "DICOM Structured Report…"),
            ("pairs", "Draft → final pairs (JSONL)…"),
            ("ellipses", "Annotations as REFLACX anomaly_location_ellipses.csv…"),
            ("sr-annotations", "Annotations as DICOM SR (TID 1500 planar regions)…"),
        ):
            emenu.addAction(label).triggered.connect(lambda _=False, k=key: self.export_requested.emit(k))
        self.export_btn.setMenu(emenu)

        for b in (self.generate_btn, self.export_btn):
            b.setMinimumHeight(28)
        row1 = QtWidgets.QHBoxLayout()
        row1.addWidget(self.generate_btn)
        row1.addWidget(self.stop_btn)
        row1.addStretch(1)
        row1.addWidget(self.versions_btn)
        row1.addWidget(self.export_btn)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.save_btn)
        row2.addWidget(self.amend_btn)
        row2.addStretch(1)
        row2.addWidget(self.signer)
        row2.addWidget(self.sign_btn)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addWidget(self.badge)
        layout.addWidget(self.domain_banner)
        layout.addLayout(row1)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.suspected)
        layout.addWidget(chips_title)
        layout.addWidget(self.chips)
        layout.addLayout(row2)
        self.set_busy(False)
        self.amend_btn.hide()
        self.set_labels({})

    def use_actions(self, generate: QtGui.QAction, save: QtGui.QAction, sign: QtGui.QAction, amend: QtGui.QAction) -> None:
        """The buttons are the window's actions: same command, same enabled state as the shortcuts."""
        for button, action in ((self.generate_btn, generate), (self.save_btn, save), (self.sign_btn, sign), (self.amend_btn, amend)):
            follow(button, action)

    def set_busy(self, busy: bool) -> None:
        self.stop_btn.setVisible(busy)

    def set_locked(self, locked: bool, signed: bool = False, amending: bool = False) -> None:
        """Read-only editor when the report may not be edited; the buttons say what signing means now."""
        self.editor.set_locked(locked)
        self.sign_btn.setText("Sign addendum" if amending else "Signed" if signed else "Sign")
        self.amend_btn.setVisible(signed and not amending)

    def show_version(self, version, state: str) -> None:
        """A stored version in the editor, with what it is, who wrote it and when on the state line."""
        self.editor.set_text(version.text)
        who = f" by {version.author}" if version.author else ""
        when = version.created_at.replace("T", " ")[:16]
        self.set_state(f"{state.capitalize()}{who} · {when} UTC · v{version.version}")

    def set_study(self, study_id: str, failed: bool = False) -> None:
        """The title names the open study, and says so when its image did not load."""
        suffix = " (image not loaded)" if failed else ""
        self.title.setText(f"Report — {study_id}{suffix}" if study_id else "Report")

    def set_signer(self, text: str) -> None:
        self.signer.setText(text)

    def set_state(self, text: str) -> None:
        self.state.setText(text)

    def set_model_badge(
        self, model: dict | None, untrained: bool = False, scanpath_source: str | None = None
    ) -> None:
        if not model:
            self.badge.setText("")
            return
        name = model.get("name", "model")
        ver = model.get("version", "")
        ver = "" if str(ver) in ("", "0") else ver
        parts = [f"Model: {name}{' ' + str(ver) if ver else ''}"]
        if scanpath_source:
            parts.append(f"gaze: {scanpath_source}")
        text = " · ".join(parts)
        if untrained or model.get("untrained"):
            text += f"<br><span style='color:{theme.WARN}'>⚠ untrained base LLM — not a clinical draft</span>"
        self.badge.setText(text)

    def show_draft(self, draft: Draft | None) -> None:
        """The draft's context beside the text: model badge, domain banner, the image model's findings."""
        self.set_domain(draft.domain if draft else None)
        if draft is None:
            self.set_model_badge(None)
            self.set_suspected([])
            return
        source = draft.scanpath.source.value if draft.scanpath is not None else None
        self.set_model_badge(draft.model, bool(draft.model.get("untrained")), source)
        self.set_suspected(draft.findings, unreliable=draft.domain is not None and not draft.domain.in_domain)

    def set_domain(self, domain: DomainCheck | None) -> None:
        """The unmistakable banner over the report when the image is out of the model's domain."""
        out = domain is not None and not domain.in_domain
        if out:
            self.domain_banner.setToolTip(domain_text(domain))
        self.domain_banner.setVisible(out)

    def set_suspected(self, findings: list[EncoderFinding], unreliable: bool = False) -> None:
        """What the image model found likely, each not in the draft flagged: a small report model
        can leave out a finding it was told of, and the reader should see that before signing.
        On an out-of-domain image they are greyed: the image model's probabilities mean little there."""
        if not findings:
            self.suspected.setText("")
            return
        parts = []
        for f in findings:
            text = f"{f.label.lower()}{f' ({f.place})' if f.place else ''} {f.probability:.0%}"
            if unreliable:
                text = f"<span style='color:{theme.MUTED}'>{text}</span>"
            elif not f.in_draft:
                text = f"<span style='color:{theme.WARN}'>⚠ {text} — not in the draft</span>"
            parts.append(text)
        title = "Image model (unreliable on this image): " if unreliable else "Image model: "
        self.suspected.setText(title + " · ".join(parts))
        self.suspected.setProperty("unreliable", unreliable)

    def set_labels(self, labels: dict[str, int | None]) -> None:
        """Chips for the observations the labeler found (positive / uncertain / negative)."""
        widgets = []
        for name, value in labels.items():
            if value is None or value not in CHIP_STYLE:
                continue
            kind, colour = CHIP_STYLE[value]
            b = QtWidgets.QPushButton(f"{name}")
            b.setToolTip(f"{name}: {kind} — click to show where the model attended")
            b.setProperty("chip", kind)
            b.setStyleSheet(
                f"QPushButton {{ border: 1px solid {colour}; color: {colour}; border-radius: 10px;"
                f" padding: 2px 8px; background: transparent; text-align: left; }}"
            )
            b.clicked.connect(lambda _=False, n=name: self.chip_clicked.emit(n))
            widgets.append(b)
        self.chips.set_widgets(widgets)
        self.chips_title.setVisible(bool(widgets))
