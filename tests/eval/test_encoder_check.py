"""``main.py encoder-check``: a bundle's encoder scored on a cohort, as a table or one JSON object."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")


def test_encoder_check_cli_on_a_tiny_bundle(tmp_path, capsys, monkeypatch):
    import torch

    from main import main
    from ml.models.bundle import base_identity, build_model, save_bundle
    from ml.models.config import ModelConfig, from_dict
    from ml.train import data as data_mod
    from ml.train import synthetic

    torch.manual_seed(0)
    net = build_model(from_dict(ModelConfig, synthetic.TINY_MODEL_CONFIG), tiny=True)
    bundle = save_bundle(net, tmp_path / "bundle", base_identity("tiny"))
    studies = synthetic.make_studies(tmp_path / "data", n=12, size=64)
    monkeypatch.setattr(data_mod, "load_studies", lambda cohort: studies)

    assert main(["encoder-check", "--bundle", str(bundle), "--cohort", "c", "--json"]) == 0
    check = json.loads(capsys.readouterr().out)
    assert check["images"] == 12 and check["split"] == "all"
    assert check["auc"] and set(check["sensitivity"]) == set(check["auc"]) == set(check["positives"])
    labelled = {n for s in studies for n, v in s.labels.items() if v == 1}
    assert set(check["auc"]) <= labelled

    n_test = sum(s.split == "test" for s in studies)
    assert main(["encoder-check", "--bundle", str(bundle), "--cohort", "c", "--split", "test"]) == 0
    table = capsys.readouterr().out
    assert f"{n_test} images (test)" in table and "sensitivity" in table


def test_encoder_check_cli_says_what_is_missing_in_one_line(tmp_path, capsys):
    from main import main

    assert main(["encoder-check", "--bundle", str(tmp_path / "none"), "--cohort", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("encoder-check:") and "\n" not in err
