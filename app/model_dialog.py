"""The Model dialog: which bundle serves, its gate, what arrived since, refresh, promote, roll back.

Why: the site's radiologists see the model change and its reasons where they work. Everything
here goes through the torch-free ``ml.site`` (the models folder, the harvest counts) on worker
threads; a refresh runs ``main.py train --from-store`` in its own process (``QProcess``), so the GUI
never blocks and Cancel only stops that process: the current bundle keeps serving, and the next
Refresh resumes the cancelled run from its checkpoints.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.workers import submit

MAIN_PY = Path(__file__).resolve().parents[1] / "main.py"


@dataclass
class ModelStatus:
    """What the dialog shows, read off the GUI thread."""

    current: str = ""
    gate_markdown: str = ""
    arrived: str = ""
    candidates: list[tuple[str, str]] = field(default_factory=list)  # (id, gate line)
    can_roll_back: bool = False


def read_status(models: Path, databases: list[Path]) -> ModelStatus:
    """The models folder's current bundle and candidates, and what the databases hold since it was made."""
    import json

    from ml.site import ModelRegistry, arrived_since, gate_markdown
    from ml.store import harvest

    registry = ModelRegistry(models)
    out = ModelStatus()
    current = registry.current()
    since = ""
    if current is not None:
        out.current = current.id
        manifest = json.loads((current.path / "manifest.json").read_text())
        since = manifest.get("created", "")
        gate = current.gate or manifest.get("gate")
        out.gate_markdown = gate_markdown(gate) if gate else "No gate: this bundle was adopted as it was."
    out.candidates = [
        (e.id, ("refused: " if e.refused else "passed: ") + (e.gate or {}).get("reason", "no gate"))
        for e in registry.candidates()
    ]
    out.can_roll_back = sum(1 for e in registry.history() if e["action"] == "promote") > 1
    existing = [db for db in databases if Path(db).is_file()]
    if existing:
        found = harvest(existing)
        studies, sessions = arrived_since(found, since) if since else (len(found.studies), 0)
        out.arrived = f"{studies} signed studies and {sessions} gaze sessions since this bundle was made"
    return out


def refresh_command(databases: list[Path], models: Path, run: Path, resume: bool) -> list[str]:
    """The argv of a refresh into ``run`` (``--resume`` continues a cancelled one)."""
    cmd = [sys.executable, str(MAIN_PY), "train", "--from-store", *map(str, databases)]
    cmd += ["--models", str(models), "--out", str(run)]
    return cmd + (["--resume"] if resume else [])


def unfinished_run(runs: Path) -> Path | None:
    """The newest refresh folder that started (``site.json``) but has no gate yet."""
    started = sorted(p.parent for p in runs.glob("refresh-*/site.json"))
    return next((p for p in reversed(started) if not (p / "gate.json").exists()), None)


class ModelDialog(QtWidgets.QDialog):
    """The models folder of this workstation, and a refresh from its database(s)."""

    refreshed = QtCore.Signal(int)  # the refresh process's exit code

    def __init__(self, models: Path, databases: list[Path], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model")
        self.models, self.databases = Path(models), [Path(d) for d in databases]
        self.runs = self.models / "runs"
        self.process: QtCore.QProcess | None = None
        self.current = QtWidgets.QLabel("…")
        self.arrived = QtWidgets.QLabel("")
        self.gate = QtWidgets.QTextBrowser()
        self.candidates = QtWidgets.QListWidget()
        self.log = QtWidgets.QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self.refresh_btn = QtWidgets.QPushButton("Refresh model")
        self.cancel_btn = QtWidgets.QPushButton("Cancel refresh")
        self.promote_btn = QtWidgets.QPushButton("Promote…")
        self.rollback_btn = QtWidgets.QPushButton("Roll back…")
        self.cancel_btn.setEnabled(False)
        self.refresh_btn.clicked.connect(self.start_refresh)
        self.cancel_btn.clicked.connect(self.cancel_refresh)
        self.promote_btn.clicked.connect(self._ask_promote)
        self.rollback_btn.clicked.connect(self._ask_rollback)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.refresh_btn, self.cancel_btn, self.promote_btn, self.rollback_btn):
            buttons.addWidget(b)
        layout = QtWidgets.QVBoxLayout(self)
        for w in (self.current, self.arrived, self.gate, QtWidgets.QLabel("Candidates:"), self.candidates):
            layout.addWidget(w)
        layout.addLayout(buttons)
        layout.addWidget(self.log)
        self.resize(760, 640)
        self.reload()

    # ----------------------------------------------------------------- status
    def reload(self) -> None:
        submit(lambda: read_status(self.models, self.databases), self._show, self._failed, context=self)

    def _show(self, status: ModelStatus) -> None:
        self.current.setText(f"Current bundle: {status.current or 'none (the backend serves its default)'}")
        self.arrived.setText(status.arrived)
        self.gate.setMarkdown(status.gate_markdown)
        self.candidates.clear()
        for bid, line in status.candidates:
            item = QtWidgets.QListWidgetItem(f"{bid} — {line}")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, bid)
            self.candidates.addItem(item)
        self.promote_btn.setEnabled(bool(status.candidates))
        self.rollback_btn.setEnabled(status.can_roll_back)

    def _failed(self, exc: BaseException) -> None:
        self.log.appendPlainText(f"error: {exc}")

    # ----------------------------------------------------------------- promote / roll back
    def _confirm(self, text: str) -> bool:
        answer = QtWidgets.QMessageBox.question(self, "Model", text)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def _ask_promote(self) -> None:
        item = self.candidates.currentItem() or self.candidates.item(self.candidates.count() - 1)
        if item is None:
            return
        bid = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if self._confirm(f"Serve '{bid}' from now on? Drafts in progress finish on the current model."):
            self.promote(bid)

    def _ask_rollback(self) -> None:
        if self._confirm("Serve the bundle that served before the current one again?"):
            self.rollback()

    def promote(self, bid: str) -> None:
        from ml.site import ModelRegistry

        submit(lambda: ModelRegistry(self.models).promote(bid), lambda _: self.reload(), self._failed, context=self)

    def rollback(self) -> None:
        from ml.site import ModelRegistry

        submit(lambda: ModelRegistry(self.models).rollback(), lambda _: self.reload(), self._failed, context=self)

    # ----------------------------------------------------------------- refresh
    def start_refresh(self, command: list[str] | None = None) -> None:
        """Start (or resume) a refresh in a separate process; ``command`` replaces it in tests."""
        if self.process is not None:
            return
        run = unfinished_run(self.runs)
        resume = run is not None
        run = run or self.runs / time.strftime("refresh-%Y%m%d-%H%M%S")
        cmd = command or refresh_command(self.databases, self.models, run, resume)
        proc = QtCore.QProcess(self)
        proc.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._read_output)
        proc.finished.connect(self._finished)
        self.process = proc
        self.log.appendPlainText(("resuming " if resume else "") + "$ " + " ".join(cmd))
        self.refresh_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        proc.start(cmd[0], cmd[1:])

    def cancel_refresh(self) -> None:
        if self.process is None:
            return
        self.log.appendPlainText("cancelling: the current model keeps serving; Refresh model resumes this run")
        self.process.terminate()

    def _read_output(self) -> None:
        if self.process is not None:
            text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
            for line in text.replace("\r", "\n").splitlines():
                if line.strip():
                    self.log.appendPlainText(line)

    def _finished(self, code: int, _status: QtCore.QProcess.ExitStatus) -> None:
        self._read_output()
        proc, self.process = self.process, None
        if proc is not None:
            proc.deleteLater()
        self.refresh_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.log.appendPlainText(f"refresh ended (exit {code})")
        self.reload()
        self.refreshed.emit(code)
