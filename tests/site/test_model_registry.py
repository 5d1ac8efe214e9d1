"""The models folder: the first bundle serves, candidates wait for promotion, the gate's refusal
holds, rollback returns to the bundle that served before, and the CLI asks first."""

from __future__ import annotations

import json

import pytest

from ml.cli import main as cli_main
from ml.site import ModelRegistry, RegistryError
from ml.site.registry import bundle_sha256


def _bundle(tmp_path, version, name="gaze2report"):
    folder = tmp_path / "src" / version
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": name, "version": version}))
    (folder / "encoder.safetensors").write_bytes(version.encode())
    return folder


PASSED = {"passed": True, "reason": "CE-F1 0.6 vs current 0.5"}
REFUSED = {"passed": False, "reason": "CE-F1 0.1 vs current 0.5: worse by more than the tolerance"}


def test_the_first_bundle_serves_and_later_ones_wait_as_candidates(tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    base = reg.add(_bundle(tmp_path, "0.1.0"), origin="base")
    cand = reg.add(_bundle(tmp_path, "0.1.0+site.1"), origin="refresh", gate=PASSED)
    assert reg.current().id == base.id == "gaze2report-0.1.0"
    assert [c.id for c in reg.candidates()] == [cand.id]
    assert cand.sha256 == bundle_sha256(cand.path) and (cand.path / "encoder.safetensors").read_bytes() == b"0.1.0+site.1"


def test_promote_then_rollback_serves_the_previous_bundle_again(tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    reg.add(_bundle(tmp_path, "1"), origin="base")
    reg.add(_bundle(tmp_path, "2"), origin="refresh", gate=PASSED)
    assert reg.promote().id == "gaze2report-2" and reg.current().id == "gaze2report-2"
    assert reg.rollback().id == "gaze2report-1" and reg.current().id == "gaze2report-1"
    assert [c.id for c in reg.candidates()] == ["gaze2report-2"]
    assert [e["action"] for e in reg.history()] == ["add", "promote", "add", "promote", "rollback"]
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()


def test_a_candidate_the_gate_refused_cannot_be_promoted(tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    reg.add(_bundle(tmp_path, "1"), origin="base")
    reg.add(_bundle(tmp_path, "2"), origin="refresh", gate=REFUSED)
    with pytest.raises(RegistryError, match="the gate refused 'gaze2report-2': CE-F1 0.1"):
        reg.promote()
    assert reg.current().id == "gaze2report-1"


def test_a_version_already_in_the_folder_is_refused(tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    reg.add(_bundle(tmp_path, "1"), origin="base")
    with pytest.raises(RegistryError, match="already holds a bundle 'gaze2report-1'"):
        reg.add(tmp_path / "src" / "1", origin="refresh")


def test_a_registry_from_a_newer_version_is_refused(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "registry.json").write_text(json.dumps({"format": 9}))
    with pytest.raises(RegistryError, match="format 9"):
        ModelRegistry(tmp_path / "models").current()


def test_the_cli_promotes_only_with_confirmation_and_lists_the_gate(tmp_path, capsys):
    models = tmp_path / "models"
    reg = ModelRegistry(models)
    reg.add(_bundle(tmp_path, "1"), origin="base")
    reg.add(_bundle(tmp_path, "2"), origin="refresh", gate=PASSED)
    assert cli_main(["model", "promote", "--models", str(models)]) == 1  # stdin is no terminal
    assert "pass --yes" in capsys.readouterr().err and reg.current().id == "gaze2report-1"
    assert cli_main(["model", "promote", "gaze2report-2", "--models", str(models), "--yes"]) == 0
    assert reg.current().id == "gaze2report-2"
    assert cli_main(["model", "list", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "* gaze2report-2" in out and "passed: CE-F1 0.6" in out and "promote gaze2report-2" in out
    assert cli_main(["model", "rollback", "--models", str(models), "--yes"]) == 0
    assert reg.current().id == "gaze2report-1"
    assert cli_main(["model", "promote", "nope", "--models", str(models), "--yes"]) == 2
    assert "no bundle 'nope'" in capsys.readouterr().err
