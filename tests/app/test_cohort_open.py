"""Open a real synthetic cohort (REFLACX-shaped) in the workstation and replay a reader (slow: renders)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ml import assets
from tests.app.test_thin_path import make_window

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not assets.is_fetched("ct"), reason="needs the embedded CT: python main.py assets fetch")
def test_open_cohort_folder_and_replay_a_reader(qtbot, fake_backend, tmp_path):
    out = tmp_path / "cohort"
    r = subprocess.run(
        [
            sys.executable,
            "main.py",
            "cohort",
            "--n",
            "2",
            "--out",
            str(out),
            "--scale",
            "0.25",
            "--workers",
            "1",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-1500:]
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=20000):
        win.open_paths([str(out)])
    assert win.worklist.list.count() == 2
    assert "dataset gaze ×1" in win.worklist.list.item(0).text()
    assert win.overlays.layers["recorded"].has_data and win.overlays.layers["findings"].has_data
    ctl = win.session
    ctl.replay_speed = 50.0
    ctl.begin("replay")
    qtbot.waitUntil(lambda: ctl.state == "recording", timeout=10000)
    qtbot.waitUntil(lambda: ctl.source.state.value == "finished", timeout=20000)
    with qtbot.waitSignal(ctl.session_saved, timeout=30000) as saved:
        ctl.stop()
    replayed = saved.args[0]
    dataset = win.current.scanpaths[0]
    assert abs(len(replayed) - len(dataset)) <= max(3, len(dataset) // 4)  # the same reading, re-detected
