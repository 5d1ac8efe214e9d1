"""``domain-fit`` and ``fit_domain``: the gate and calibration that train writes, on an existing bundle."""

from __future__ import annotations

import json

import pytest
import torch

from ml.train import data as data_mod
from ml.train import synthetic


@pytest.fixture
def tiny_bundle(tmp_path, monkeypatch):
    from ml.models.bundle import base_identity, build_model, save_bundle
    from ml.models.config import ModelConfig, from_dict

    torch.manual_seed(0)
    net = build_model(from_dict(ModelConfig, synthetic.TINY_MODEL_CONFIG), tiny=True)
    studies = synthetic.make_studies(tmp_path / "data", n=40, size=64)
    monkeypatch.setattr(data_mod, "load_studies", lambda cohort: studies)
    return save_bundle(net, tmp_path / "bundle", base_identity("tiny"))


def test_domain_fit_writes_a_gate_and_a_calibration_into_the_bundle(tiny_bundle, capsys):
    from main import main
    from ml.models.bundle import read_domain, read_manifest

    assert read_domain(tiny_bundle) == (None, None)
    assert main(["encoder-check", "--bundle", str(tiny_bundle), "--cohort", "c"]) == 0
    assert "domain gate: none" in capsys.readouterr().out
    assert main(["domain-fit", "--bundle", str(tiny_bundle), "--cohort", "c", "--no-real", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    comparison = report["comparison"]["methods"]
    assert set(comparison) == {"mahalanobis", "knn", "energy"}
    assert set(comparison["knn"]["groups"]) == {"noise", "flat", "inverted", "cropped"}
    assert all(r["heldout_flagged"] <= 0.01 for r in comparison.values())
    assert report["fitted_on"] == {"training_images": 28, "heldout_images": 12}

    manifest = read_manifest(tiny_bundle)
    gate, calibration = read_domain(tiny_bundle)
    assert manifest["domain_gate"]["method"] == gate.method.value == report["comparison"]["chosen"]
    assert manifest["domain_gate"]["threshold"] == gate.threshold
    assert len(calibration.scale) == len(calibration.bias) == 14 and all(a > 0 for a in calibration.scale)

    assert main(["encoder-check", "--bundle", str(tiny_bundle), "--cohort", "c"]) == 0
    table = capsys.readouterr().out
    assert "ECE calibrated" in table and f"domain gate ({gate.method.value}" in table


def test_domain_fit_says_what_is_missing_in_one_line(tmp_path, capsys):
    from main import main

    assert main(["domain-fit", "--bundle", str(tmp_path / "none"), "--cohort", str(tmp_path), "--no-real"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("domain-fit:") and "\n" not in err


def test_the_method_that_catches_every_outlier_is_kept():
    from ml.train.domain_fit import compare_methods

    g = torch.Generator().manual_seed(0)
    train = torch.randn(120, 4, 2, 2, generator=g)
    held = torch.randn(60, 4, 2, 2, generator=g)
    confident = torch.full((60, 3), 6.0)  # the energy gate sees only confident logits: it cannot tell
    far = (torch.randn(20, 4, 2, 2, generator=g) * 4 + 3, torch.full((20, 3), 6.0))
    gate, comparison = compare_methods(train, (held, confident), {"far": far})
    assert comparison["methods"]["energy"]["groups"]["far"]["tpr"] < 0.5
    assert comparison["chosen"] in ("mahalanobis", "knn") and gate.method.value == comparison["chosen"]
    assert comparison["methods"][comparison["chosen"]]["groups"]["far"]["tpr"] == 1.0
