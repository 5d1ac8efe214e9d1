"""The backend ends when the GUI that started it dies, however it dies (SIGKILL included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from ml.serve.parent import is_alive

REPO = Path(__file__).resolve().parents[2]

#: The backend: the real ``serve`` command line with a fake model (no weights to load).
BACKEND = textwrap.dedent(
    """
    import sys
    from ml.cli import build_parser, serve
    from ml.serve import parent
    from tests.serve.conftest import FakeModel

    serve.make_factory = lambda *args, **kwargs: (lambda: FakeModel())
    if sys.argv[1] == "watchdog-only":  # as on a system without PR_SET_PDEATHSIG
        parent.set_death_signal = lambda sig: False
    parser, _ = build_parser()
    args = parser.parse_args(sys.argv[2:])
    sys.exit(args.func(args))
    """
)

#: The GUI stand-in: starts the backend with the launcher's own command line, then waits.
GUI = textwrap.dedent(
    """
    import subprocess, sys
    from app.backend.launcher import serve_command

    argv = serve_command(0)[2:] + ["--port-file", sys.argv[2]]
    assert argv[0] == "serve" and "--exit-with-parent" in argv
    backend = subprocess.Popen([sys.executable, "-c", sys.argv[3], sys.argv[1], *argv])
    print(backend.pid, flush=True)
    backend.wait()
    """
)


def _wait(predicate, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)["ready"] is True
    except OSError:  # bound, not yet listening
        return False


def test_a_killed_child_is_dead_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert is_alive(child.pid)
        child.kill()
        assert _wait(lambda: not is_alive(child.pid), 5)  # a zombie until we wait() for it
        assert child.poll() is not None
    finally:
        child.kill()
        child.wait()


@pytest.mark.slow
@pytest.mark.parametrize("guard", ["death-signal", "watchdog-only"])
def test_the_backend_exits_when_its_parent_is_killed(tmp_path, guard):
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", "GAZE2REPORT_TOKEN": ""}
    gui = subprocess.Popen(
        [sys.executable, "-c", GUI, guard, str(port_file), BACKEND],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    backend_pid = None
    try:
        backend_pid = int(gui.stdout.readline())
        assert _wait(lambda: port_file.exists() and port_file.read_text().strip(), 90), "backend never listened"
        url = f"http://127.0.0.1:{int(port_file.read_text())}/v1/health"
        assert _wait(lambda: _ready(url), 30), "backend never ready"
        gui.send_signal(signal.SIGKILL)
        gui.wait(10)
        assert _wait(lambda: not is_alive(backend_pid), 10), "the backend outlived its parent"
    finally:
        if gui.poll() is None:
            gui.kill()
            gui.wait()
        if backend_pid is not None and is_alive(backend_pid):
            os.kill(backend_pid, signal.SIGKILL)
