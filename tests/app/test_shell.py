"""Start-up and shell: headless message, local backend subprocess (token, health, death, restart),
settings file and dialog, shortcuts help, the live gaze cursor setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.backend.client import BackendClient, BackendError, iter_sse
from app.backend.launcher import BackendManager, BackendState
from app.settings import WorkstationSettings

ROOT = Path(__file__).resolve().parents[2]


def test_no_display_prints_how_to_run_headless():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    code = "import argparse, sys; from app.main import run_gui; sys.exit(run_gui(argparse.Namespace(paths=[], backend=None, screenshot=None)))"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert "QT_QPA_PLATFORM=offscreen" in r.stderr and "generate" in r.stderr
    assert "Traceback" not in r.stderr


def test_local_backend_subprocess_token_death_and_restart(qtbot):
    cmd = [sys.executable, "-m", "tests.app.fake_backend", "--port", "{port}"]
    mgr = BackendManager(command=cmd, poll_ms=200)
    states = []
    mgr.state_changed.connect(lambda s, m: states.append(s))
    mgr.start()
    qtbot.waitUntil(lambda: mgr.state == BackendState.READY, timeout=20000)
    token1 = mgr.token
    assert len(token1) >= 32
    assert BackendClient(mgr.url, token1).model()["name"] == "fake-bundle"  # the subprocess got our token
    with pytest.raises(BackendError) as exc:
        BackendClient(mgr.url, "wrong").model()
    assert exc.value.status == 401
    mgr.process.kill()
    qtbot.waitUntil(lambda: mgr.state == BackendState.DEAD, timeout=10000)
    assert "exited" in mgr.message
    mgr.restart()
    qtbot.waitUntil(lambda: mgr.state == BackendState.READY, timeout=20000)
    assert mgr.token != token1  # a fresh token per launch
    assert not any("GAZE2REPORT_TOKEN=" in line for line in mgr.log)
    mgr.stop()
    assert states[0] == "starting"


def test_sse_parser_handles_comments_multiline_and_partial():
    lines = [
        ": keep-alive",
        "",
        "event: token",
        'data: {"text": "a"}',
        "",
        "event: done",
        "data: {",
        'data: "x": 1}',
        "",
    ]
    assert list(iter_sse(iter(lines))) == [("token", {"text": "a"}), ("done", {"x": 1})]


def test_settings_round_trip_and_broken_file(tmp_path):
    s = WorkstationSettings(backend_url="http://gpu:8765", user_name="Dr A", viewing_distance_mm=700.0)
    s.save()
    assert WorkstationSettings.load() == s
    WorkstationSettings.path().write_text("{not json")
    assert WorkstationSettings.load() == WorkstationSettings()


def test_settings_dialog_and_shortcuts(qtbot, fake_backend):
    from app.dialogs import SettingsDialog, ShortcutsDialog, shortcut_rows
    from tests.app.test_thin_path import make_window

    win = make_window(qtbot, fake_backend, auto_draft=False)
    dlg = SettingsDialog(win.settings, win)
    qtbot.addWidget(dlg)
    dlg.user.setText("Dr B")
    dlg.dist.setValue(600.0)
    dlg.live_cursor.setChecked(True)
    new = dlg.values()
    assert new.user_name == "Dr B" and new.viewing_distance_mm == 600.0 and new.live_gaze_cursor
    win.settings_ctl.apply(new)
    qtbot.waitUntil(lambda: WorkstationSettings.path().exists(), timeout=5000)
    assert WorkstationSettings.load().user_name == "Dr B"
    rows = dict((t, k) for k, t in shortcut_rows(win))
    assert (
        rows["Invert"] == "I"
        and rows["Reset"] == "Space"
        and "Right-drag" in {k for k, _ in shortcut_rows(win)}
    )
    help_dlg = ShortcutsDialog(win)
    qtbot.addWidget(help_dlg)
    assert help_dlg.table.rowCount() > 20


def test_gui_command_screenshot_mode(tmp_path, fake_backend, png_path):
    """``python main.py gui PATH --backend URL --screenshot OUT`` waits for the draft, saves, exits."""
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", GAZE2REPORT_TOKEN=fake_backend.token)
    r = subprocess.run(
        [
            sys.executable,
            "main.py",
            "gui",
            str(png_path),
            "--backend",
            fake_backend.url,
            "--screenshot",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.stat().st_size > 10000
    assert any(req["path"] == "/v1/reports/stream" for req in fake_backend.requests)


def test_main_py_with_a_file_opens_it_in_the_workstation(monkeypatch, png_path):
    import main

    opened = []
    monkeypatch.setattr("app.main.run_gui", lambda args: opened.append(list(args.paths)) or 0)
    assert main.main([str(png_path)]) == 0
    assert opened == [[str(png_path)]]
    with pytest.raises(SystemExit):  # a word that is neither a command nor a file stays an error
        main.main(["no-such-command-or-file"])
