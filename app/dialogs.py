"""Settings and keyboard-shortcut help dialogs."""

from __future__ import annotations

import dataclasses

from PySide6 import QtCore, QtGui, QtWidgets

from app.settings import WorkstationSettings


class SettingsDialog(QtWidgets.QDialog):
    """Backend URL, user name, data directory, screen geometry for gaze, gaze source, live cursor."""

    def __init__(self, settings: WorkstationSettings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.original = settings
        s = settings
        self.backend_url = QtWidgets.QLineEdit(s.backend_url)
        self.backend_url.setPlaceholderText("empty: start a local backend")
        self.backend_token = QtWidgets.QLineEdit(s.backend_token)
        self.backend_token.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.bundle = QtWidgets.QLineEdit(s.backend_bundle)
        self.bundle.setPlaceholderText("model bundle folder for the local backend (empty: its default)")
        self.user = QtWidgets.QLineEdit(s.user_name)
        self.data_dir = QtWidgets.QLineEdit(s.data_dir)
        self.data_dir.setPlaceholderText(str(s.data_path))
        browse = QtWidgets.QPushButton("…")
        browse.clicked.connect(self._browse)
        data_row = QtWidgets.QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(browse)
        self.w_px, self.h_px = QtWidgets.QSpinBox(), QtWidgets.QSpinBox()
        for sp, v in ((self.w_px, s.screen_width_px), (self.h_px, s.screen_height_px)):
            sp.setRange(100, 20000)
            sp.setValue(v)
            sp.setSuffix(" px")
        self.w_mm, self.h_mm, self.dist = (
            QtWidgets.QDoubleSpinBox(),
            QtWidgets.QDoubleSpinBox(),
            QtWidgets.QDoubleSpinBox(),
        )
        for sp, v in (
            (self.w_mm, s.screen_width_mm),
            (self.h_mm, s.screen_height_mm),
            (self.dist, s.viewing_distance_mm),
        ):
            sp.setRange(10.0, 5000.0)
            sp.setDecimals(1)
            sp.setValue(v)
            sp.setSuffix(" mm")
        self.source = QtWidgets.QComboBox()
        self.source.addItems(["mouse", "tobii", "replay"])
        self.source.setCurrentText(s.gaze_source)
        self.live_cursor = QtWidgets.QCheckBox(
            "Show a live gaze cursor while recording (can bias the reading)"
        )
        self.live_cursor.setChecked(s.live_gaze_cursor)

        form = QtWidgets.QFormLayout()
        form.addRow(QtWidgets.QLabel("<b>Backend</b>"))
        form.addRow("URL", self.backend_url)
        form.addRow("Token", self.backend_token)
        form.addRow("Local bundle", self.bundle)
        form.addRow(QtWidgets.QLabel("<b>Reader</b>"))
        form.addRow("User name", self.user)
        form.addRow("Data directory", data_row)
        form.addRow(QtWidgets.QLabel("<b>Screen geometry (gaze → degrees)</b>"))
        form.addRow("Width", self.w_px)
        form.addRow("Height", self.h_px)
        form.addRow("Physical width", self.w_mm)
        form.addRow("Physical height", self.h_mm)
        form.addRow("Viewing distance", self.dist)
        form.addRow("Gaze source", self.source)
        form.addRow("", self.live_cursor)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QtWidgets.QLabel("Backend and data-directory changes apply at the next start."))
        lay.addWidget(buttons)

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Data directory", self.data_dir.text())
        if d:
            self.data_dir.setText(d)

    def values(self) -> WorkstationSettings:
        return dataclasses.replace(
            self.original,
            backend_url=self.backend_url.text().strip(),
            backend_token=self.backend_token.text().strip(),
            backend_bundle=self.bundle.text().strip(),
            user_name=self.user.text().strip() or self.original.user_name,
            data_dir=self.data_dir.text().strip(),
            screen_width_px=self.w_px.value(),
            screen_height_px=self.h_px.value(),
            screen_width_mm=self.w_mm.value(),
            screen_height_mm=self.h_mm.value(),
            viewing_distance_mm=self.dist.value(),
            gaze_source=self.source.currentText(),
            live_gaze_cursor=self.live_cursor.isChecked(),
        )


class ReaderDialog(QtWidgets.QDialog):
    """Asked before the first signature: who signs (the login name is not a reader's name)."""

    def __init__(self, settings: WorkstationSettings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Who is reading?")
        self.settings = settings
        self.name = QtWidgets.QLineEdit(settings.user_name if settings.reader_confirmed else "")
        self.name.setPlaceholderText("e.g. Dr Ada Reader")
        self.ident = QtWidgets.QLineEdit(settings.reader_id)
        self.ident.setPlaceholderText("e.g. staff number (optional)")
        note = QtWidgets.QLabel("Reports and DICOM SR exports are signed with this name.")
        note.setWordWrap(True)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout(self)
        form.addRow(note)
        form.addRow("Reader's name", self.name)
        form.addRow("Identifier", self.ident)
        form.addRow(buttons)

    def values(self) -> WorkstationSettings | None:
        """The settings with the reader named, or None when no name was given."""
        name = self.name.text().strip()
        if not name:
            return None
        return dataclasses.replace(
            self.settings, user_name=name, reader_id=self.ident.text().strip(), reader_confirmed=True
        )


def shortcut_rows(window: QtWidgets.QWidget) -> list[tuple[str, str]]:
    """(keys, what) for every action with a shortcut on the window, sorted by description."""
    rows = []
    seen = set()
    for a in window.actions():
        keys = a.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
        text = a.text().replace("&", "")
        if keys and (keys, text) not in seen:
            seen.add((keys, text))
            rows.append((keys, text))
    rows += [
        ("Wheel", "Zoom"),
        ("Middle-drag", "Pan"),
        ("Right-drag", "Window/level (horizontal: level, vertical: width)"),
    ]
    return sorted(rows, key=lambda r: r[1].lower())


class ShortcutsDialog(QtWidgets.QDialog):
    def __init__(self, window: QtWidgets.QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(520, 640)
        rows = shortcut_rows(window)
        self.table = QtWidgets.QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, (k, t) in enumerate(rows):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(k))
            self.table.setItem(r, 1, QtWidgets.QTableWidgetItem(t))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.table)


class ExportResult(QtCore.QObject):
    """Tells the reader how one export went (for DICOM SR: what reading it back with pydicom found)."""

    def __init__(self, window: QtWidgets.QWidget, exports) -> None:
        super().__init__(window)
        self.window, self.exports = window, exports
        self.box: QtWidgets.QMessageBox | None = None
        exports.exported.connect(self._exported)
        exports.failed.connect(self._failed)

    def _done(self) -> None:
        self.exports.exported.disconnect(self._exported)
        self.exports.failed.disconnect(self._failed)

    def _failed(self, _kind: str, why: str) -> None:
        self._done()
        self.show(QtWidgets.QMessageBox.Icon.Warning, f"Export failed: {why}")

    def _exported(self, kind: str, path: str) -> None:
        self._done()
        info = ""
        if kind in ("sr", "sr-annotations"):
            from app.report.sr import read_back

            try:
                back = read_back(path)
                lines = [
                    f"SOP class: Comprehensive SR ({back['sop_class_uid']})",
                    f"Completion: {back['completion']} · verification: {back['verification']}",
                    f"Evidence: {len(back['evidence_uids'])} image(s)",
                ]
                lines += [f"{k}: {shorten(v, 90)}" for k, v in back["texts"].items()]
                if back["graphic_types"]:
                    lines.append("Regions: " + ", ".join(back["graphic_types"]))
                info = "Read back with pydicom:\n" + "\n".join(lines)
            except Exception as exc:  # noqa: BLE001 - the message says it
                info = f"Could not read it back: {exc}"
        self.show(QtWidgets.QMessageBox.Icon.Information, f"Exported to\n{path}", info)

    def show(self, icon, text: str, info: str = "") -> QtWidgets.QMessageBox:
        box = QtWidgets.QMessageBox(self.window)
        box.setWindowTitle("Export")
        box.setIcon(icon)
        box.setText(text)
        if info:
            box.setInformativeText(info)
        box.setModal(False)
        box.show()
        self.box = box
        return box


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"
