"""``train --from-store`` on bad input: one clear line, exit 2, nothing lost; a cancelled refresh
leaves the serving bundle alone and its run folder resumable or deletable."""

from __future__ import annotations

import json
import sqlite3

from ml.cli import main as cli_main
from ml.models.bundle import DEMO_BUNDLE
from ml.site import ModelRegistry
from ml.train import synthetic


def _refresh(capsys, *args):
    rc = cli_main(["train", "--from-store", *map(str, args), "--base-bundle", str(DEMO_BUNDLE), "--holdout", "2"])
    return rc, capsys.readouterr().err.strip()


def test_an_empty_store_is_a_clear_error(make_site, capsys, tmp_path):
    rc, err = _refresh(capsys, make_site([]), "--out", tmp_path / "run")
    assert rc == 2 and err == "train: the store holds no studies: read and sign studies before a refresh"


def test_a_missing_database_is_named(capsys, tmp_path):
    rc, err = _refresh(capsys, tmp_path / "nowhere.sqlite", "--out", tmp_path / "run")
    assert rc == 2 and "No database at" in err and "nowhere.sqlite" in err


def test_a_newer_schema_says_to_update(make_site, capsys, tmp_path):
    db = make_site([])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    rc, err = _refresh(capsys, db, "--out", tmp_path / "run")
    assert rc == 2 and "newer Gaze2Report (schema 99)" in err


def test_unsigned_studies_and_moved_images_say_why_nothing_trains(make_site, capsys, tmp_path):
    cases = synthetic.make_studies(tmp_path / "images", n=5, size=32)
    rc, err = _refresh(capsys, make_site(cases, signed=False), "--out", tmp_path / "run")
    assert rc == 2 and "no study in the store has a signed report" in err
    signed = make_site(cases, name="signed.sqlite")
    (tmp_path / "images").rename(tmp_path / "moved")
    rc, err = _refresh(capsys, signed, "--out", tmp_path / "run")
    assert rc == 2 and "5 images are not where their study says (moved?" in err


def test_a_refresh_refuses_a_config_file(make_site, capsys, tmp_path):
    rc, err = _refresh(capsys, make_site([]), "--config", tmp_path / "c.json")
    assert rc == 2 and "takes its model and settings from the base bundle" in err


def test_a_cancelled_refresh_keeps_the_current_bundle_and_can_be_resumed_or_deleted(
    make_site, uid, capsys, tmp_path, monkeypatch
):
    import ml.train.refresh
    import ml.train.run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ml.train.refresh, "_check_base_llm", lambda *a: None)
    monkeypatch.setattr(ml.train.run, "train", interrupted)
    models = tmp_path / "models"
    ModelRegistry(models).add(DEMO_BUNDLE, origin="base")
    before = (models / "registry.json").read_text()
    db = make_site(synthetic.make_studies(tmp_path / "images", n=5, size=32))
    run = tmp_path / "run"
    rc, err = _refresh(capsys, db, "--out", run, "--models", models)
    assert rc == 130 and "the current bundle keeps serving" in err and f"--resume --out {run}" in err
    assert (models / "registry.json").read_text() == before
    assert json.loads((run / "site.json").read_text())["selection"]["holdout"] == [uid(3), uid(4)]
    rc, err = _refresh(capsys, db, "--out", run)
    assert rc == 2 and "already holds a refresh: pass --resume to continue it, or delete the folder" in err


def test_resuming_where_no_refresh_ran_is_refused(make_site, capsys, tmp_path):
    rc, err = _refresh(capsys, make_site([]), "--out", tmp_path / "run", "--resume")
    assert rc == 2 and "no refresh to resume" in err


def test_a_refresh_keeps_the_base_model(make_site, capsys, tmp_path):
    db = make_site(synthetic.make_studies(tmp_path / "images", n=5, size=32))
    rc, err = _refresh(capsys, db, "--out", tmp_path / "run", "--set", "model.encoder.dim=8")
    assert rc == 2 and "only train.* settings can be changed" in err


def test_a_finished_refresh_prints_the_gate_table_and_where_the_candidate_is(capsys, tmp_path, monkeypatch):
    import ml.train.refresh
    from ml.site import decide
    from ml.site.registry import BundleEntry

    scores = {"CE-F1": 0.5, "per_observation": {"Pneumothorax": 0.4}, "scanpath": {}}
    gate = decide(scores, {**scores, "CE-F1": 0.3}, mode="predicted", tolerance=0.02, holdout=2)
    entry = BundleEntry("g2r-0.1.0+site.1", tmp_path, "", "refresh", "", gate.to_dict(), False)
    monkeypatch.setattr(ml.train.refresh, "refresh", lambda *a, **k: ml.train.refresh.RefreshResult(tmp_path / "b", gate, entry))
    rc = cli_main(["train", "--from-store", "ws1.sqlite", "--models", str(tmp_path / "models")])
    out = capsys.readouterr().out
    assert rc == 0 and "| **CE-F1** | 0.500 | 0.300 | -0.200 |" in out and "REFUSED: CE-F1 0.300" in out
    assert "registered as 'g2r-0.1.0+site.1'" in out and "the gate refused it" in out


def test_without_a_base_bundle_an_empty_models_folder_says_what_to_name(make_site, capsys, tmp_path):
    rc = cli_main(["train", "--from-store", str(make_site([])), "--models", str(tmp_path / "models"), "--out", str(tmp_path / "run")])
    assert rc == 2 and "name the bundle to continue from: --base-bundle DIR" in capsys.readouterr().err
    assert cli_main(["model", "list", "--models", str(tmp_path / "models")]) == 0
    assert "no bundles yet" in capsys.readouterr().out
