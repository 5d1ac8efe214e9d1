"""The GUI's Model dialog: the current bundle and its gate, what arrived since, promote and roll
back through the models folder, and a refresh in its own process that Cancel stops (and the next
Refresh resumes)."""

from __future__ import annotations

import json
import sys

import pytest

from app.model_dialog import ModelDialog, refresh_command, unfinished_run
from ml.site import ModelRegistry, decide
from ml.train import synthetic


def _bundle(tmp_path, version, created):
    folder = tmp_path / "src" / version
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": "g2r", "version": version, "created": created}))
    return folder


@pytest.fixture
def dialog(qtbot, tmp_path, make_site):
    models = tmp_path / "models"
    registry = ModelRegistry(models)
    registry.add(_bundle(tmp_path, "1", "2000-01-01T00:00:00Z"), origin="base")
    gate = decide({"CE-F1": 0.5}, {"CE-F1": 0.6}, mode="predicted", tolerance=0.02, holdout=2).to_dict()
    registry.add(_bundle(tmp_path, "2", "2000-01-02T00:00:00Z"), origin="refresh", gate=gate)
    db = make_site(synthetic.make_studies(tmp_path / "images", n=3, size=32))
    d = ModelDialog(models, [db])
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: d.candidates.count() == 1, timeout=10000)
    return d


def test_the_dialog_shows_the_current_bundle_the_candidates_and_what_arrived(dialog):
    assert dialog.current.text() == "Current bundle: g2r-1"
    assert dialog.arrived.text() == "3 signed studies and 6 gaze sessions since this bundle was made"
    assert "g2r-2 — passed: CE-F1 0.600 vs current 0.500" in dialog.candidates.item(0).text()
    assert "No gate" in dialog.gate.toPlainText() and not dialog.rollback_btn.isEnabled()


def test_promote_and_rollback_change_the_serving_bundle(dialog, qtbot):
    dialog.promote("g2r-2")
    qtbot.waitUntil(lambda: dialog.current.text() == "Current bundle: g2r-2", timeout=10000)
    assert dialog.rollback_btn.isEnabled() and "PASSED: CE-F1 0.600" in dialog.gate.toPlainText()
    dialog.rollback()
    qtbot.waitUntil(lambda: dialog.current.text() == "Current bundle: g2r-1", timeout=10000)


def test_a_refresh_runs_in_its_own_process_and_cancel_stops_it(dialog, qtbot):
    slow = [sys.executable, "-c", "import time; print('harvest: 3 signed studies', flush=True); time.sleep(60)"]
    dialog.start_refresh(slow)
    assert not dialog.refresh_btn.isEnabled() and dialog.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: "harvest: 3 signed studies" in dialog.log.toPlainText(), timeout=10000)
    with qtbot.waitSignal(dialog.refreshed, timeout=10000):
        dialog.cancel_refresh()
    assert dialog.refresh_btn.isEnabled() and "keeps serving" in dialog.log.toPlainText()


def test_the_next_refresh_resumes_a_run_that_has_no_gate_yet(tmp_path):
    runs = tmp_path / "runs"
    for name, done in (("refresh-1", True), ("refresh-2", False)):
        (runs / name).mkdir(parents=True)
        (runs / name / "site.json").write_text("{}")
        if done:
            (runs / name / "gate.json").write_text("{}")
    assert unfinished_run(runs) == runs / "refresh-2"
    cmd = refresh_command([tmp_path / "ws1.sqlite"], tmp_path / "models", runs / "refresh-2", resume=True)
    assert cmd[2:5] == ["train", "--from-store", str(tmp_path / "ws1.sqlite")] and cmd[-1] == "--resume"

