"""The workstation's settings in use: edited in the dialog, the reader named before the first
signature, the overlay choice kept; every change is saved off the GUI thread."""

from __future__ import annotations

import dataclasses

from PySide6 import QtCore, QtWidgets

from app import workers
from app.settings import WorkstationSettings


class SettingsController(QtCore.QObject):
    changed = QtCore.Signal(WorkstationSettings)  # the settings now in use
    failed = QtCore.Signal(str)  # they could not be saved

    def __init__(self, settings: WorkstationSettings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.window = parent

    def apply(self, new: WorkstationSettings) -> None:
        """Use and save ``new``."""
        self.settings = new
        self.changed.emit(new)
        workers.submit(new.save, None, lambda exc: self.failed.emit(workers.error_text(exc)), context=self)

    def edit(self):
        from app.dialogs import SettingsDialog

        dlg = SettingsDialog(self.settings, self.window)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.apply(dlg.values())
        return dlg

    def ensure_reader(self) -> bool:
        """Before the first signature the reader names themselves; False if they decline."""
        if self.settings.reader_confirmed:
            return True
        from app.dialogs import ReaderDialog

        dlg = ReaderDialog(self.settings, self.window)
        named = dlg.values() if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted else None
        if self.window is not None:
            self.window.activateWindow()
        if named is not None:
            self.apply(named)
        return named is not None

    def keep_layers(self, layers: dict[str, bool]) -> None:
        """The reader's overlay choice persists."""
        if layers != self.settings.layers:
            self.apply(dataclasses.replace(self.settings, layers=layers))

    def signer(self) -> str:
        s = self.settings
        if not s.reader_confirmed:
            return "Signs as: asked at signing"
        return f"Signs as: {s.user_name}{f' ({s.reader_id})' if s.reader_id else ''}"
