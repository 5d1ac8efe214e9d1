"""Start (or find) the backend and keep watching it, without ever blocking the GUI thread.

With no backend URL configured, ``BackendManager`` starts ``python main.py serve --port P`` as a
``QProcess`` (asynchronous by design) with a fresh random token in ``GAZE2REPORT_TOKEN``, then polls
``/v1/health`` from a worker thread. Its state (starting / loading / ready / error / dead) is
emitted as a signal so the window can always show it; a dead backend can be restarted.
A configured URL is only polled (a reading-room GPU server, say).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
from collections import deque
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from app import workers
from app.backend.client import BackendClient
from ml.types import Vocabulary

REPO_ROOT = Path(__file__).resolve().parents[2]


class BackendState(Vocabulary):
    STARTING = "starting"  # the local process is starting, or the remote URL not yet answered
    LOADING = "loading"  # the backend answers and is loading the model
    READY = "ready"
    ERROR = "error"  # the backend answers but its model failed to load
    DEAD = "dead"  # the process exited or the backend stopped answering
    STOPPED = "stopped"  # we stopped it (the window is closing)



def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(port: int, bundle: str = "") -> list[str]:
    """The argv that starts a local backend (``main.py`` from the checkout, else the installed module)."""
    main_py = REPO_ROOT / "main.py"
    head = (
        [sys.executable, str(main_py)]
        if main_py.is_file()
        else [sys.executable, "-c", "import sys, main; sys.exit(main.main())"]
    )
    cmd = head + ["serve", "--host", "127.0.0.1", "--port", str(port), "--exit-with-parent", str(os.getpid())]
    if bundle:
        cmd += ["--bundle", bundle]
    return cmd


class BackendManager(QtCore.QObject):
    """Owns the backend connection: a local subprocess or a configured URL, plus health polling."""

    state_changed = QtCore.Signal(str, str)  # BackendState value, human-readable message
    health_changed = QtCore.Signal(dict)  # the last /v1/health body

    def __init__(
        self,
        url: str = "",
        token: str = "",
        bundle: str = "",
        command: list[str] | None = None,
        poll_ms: int = 1000,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.remote = bool(url)
        self.bundle = bundle
        self._command = command  # tests may pass their own fake backend
        self.url = url.rstrip("/")
        self.token = token
        self.state: BackendState = BackendState.STOPPED
        self.message = ""
        self.health: dict[str, Any] = {}
        self.log: deque[str] = deque(maxlen=400)
        self.process: QtCore.QProcess | None = None
        self._polling = False
        self._failures = 0
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._poll)

    # ----------------------------------------------------------------- control
    def client(self) -> BackendClient:
        return BackendClient(self.url, self.token)

    def start(self) -> None:
        if self.remote:
            self._set(BackendState.STARTING, f"connecting to {self.url}")
        else:
            self._spawn()
        self._timer.start()
        QtCore.QTimer.singleShot(200, self._poll)

    def restart(self) -> None:
        self.log.append("--- restart requested ---")
        if not self.remote:
            self._kill()
        self._failures = 0
        self.start()

    def stop(self) -> None:
        """On exit: stop polling and end our subprocess (bounded wait, the window is closing anyway)."""
        self._timer.stop()
        self._kill()
        self._set(BackendState.STOPPED, "stopped")

    def _spawn(self) -> None:
        port = free_port()
        self.token = secrets.token_urlsafe(32)
        self.url = f"http://127.0.0.1:{port}"
        cmd = list(self._command) if self._command else serve_command(port, self.bundle)
        cmd = [c.replace("{port}", str(port)) for c in cmd]
        proc = QtCore.QProcess(self)
        env = QtCore.QProcessEnvironment.systemEnvironment()
        env.insert("GAZE2REPORT_TOKEN", self.token)
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(REPO_ROOT))
        proc.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._read_output)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.process = proc
        self.log.append("$ " + " ".join(cmd))
        self._set(BackendState.STARTING, "starting the local backend…")
        proc.start(cmd[0], cmd[1:])

    def _kill(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        for sig in (proc.finished, proc.errorOccurred, proc.readyReadStandardOutput):
            with contextlib.suppress(RuntimeError, TypeError):
                sig.disconnect()
        if proc.state() != QtCore.QProcess.ProcessState.NotRunning:
            proc.terminate()
            if not proc.waitForFinished(3000):
                proc.kill()
                proc.waitForFinished(1000)
        proc.deleteLater()

    # ----------------------------------------------------------------- process events
    def _read_output(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.startswith("GAZE2REPORT_TOKEN="):
                continue  # never keep a token in the log
            self.log.append(line)
            if line.startswith("GAZE2REPORT_BACKEND url="):
                self.url = line.split("=", 1)[1].strip().rstrip("/")

    def _on_finished(self, code: int, _status=None) -> None:
        tail = " | ".join(list(self.log)[-3:])
        self._set(BackendState.DEAD, f"the backend exited (code {code}). {tail}".strip())

    def _on_error(self, err) -> None:
        if err == QtCore.QProcess.ProcessError.FailedToStart:
            self._set(BackendState.DEAD, "the backend could not be started (python not found?)")

    # ----------------------------------------------------------------- health
    def _poll(self) -> None:
        if self._polling or not self.url or self.state == BackendState.STOPPED:
            return
        if not self.remote and self.state == BackendState.DEAD:
            return
        self._polling = True
        client = self.client()
        workers.submit(client.health, self._on_health, self._on_health_error, context=self)

    def _on_health(self, body: dict[str, Any]) -> None:
        self._polling = False
        self._failures = 0
        self.health = body
        self.health_changed.emit(body)
        model = body.get("model") or {}
        where = "remote" if self.remote else "local"
        if body.get("ready"):
            name = model.get("name", "model")
            flag = " — UNTRAINED base LLM" if body.get("untrained") else ""
            self._set(BackendState.READY, f"{where} backend ready: {name} on {body.get('device', '?')}{flag}")
        elif body.get("error"):
            self._set(BackendState.ERROR, f"the model failed to load: {body['error']}")
        else:
            self._set(BackendState.LOADING, f"{where} backend up, loading the model…")

    def _on_health_error(self, exc: BaseException) -> None:
        self._polling = False
        self._failures += 1
        if self.state == BackendState.STOPPED:
            return
        if self.remote:
            if self._failures >= 3 or self.state in (BackendState.READY, BackendState.LOADING):
                self._set(BackendState.DEAD, f"backend unreachable at {self.url}")
        elif self.state in (BackendState.READY, BackendState.LOADING) and self._failures >= 3:
            self._set(BackendState.DEAD, "the local backend stopped answering")
        elif self.state == BackendState.STARTING and self._failures > 180:
            self._set(BackendState.DEAD, "the local backend did not come up within 3 minutes")

    def _set(self, state: BackendState, message: str) -> None:
        if state == self.state and message == self.message:
            return
        self.state, self.message = state, message
        self.state_changed.emit(state.value, message)


def env_token() -> str:
    return os.environ.get("GAZE2REPORT_TOKEN", "")
