"""The loop on a temporary site: studies read through the store as the GUI reads them → harvest →
a tiny refresh from a tiny base bundle → the gate → promote → the serving model switches."""

from __future__ import annotations

import json

import pytest

from ml.contracts import Decoding
from ml.site import ModelRegistry, uid_digest
from ml.train import synthetic

QUICK = Decoding(max_new_tokens=6, redraft=0, known_words=False)


def _train_cfg(**stages):
    return {
        "encoder": {"epochs": 1, "batch_size": 4},
        "scanpath": {"epochs": 1, "batch_size": 4},
        "report": {"epochs": 1, "batch_size": 4},
        "val_every": 50,
        "val_batches": 1,
        "log_every": 5,
        "eval_samples": 0,
        "num_threads": 1,  # on a shared 2-core machine two threads can be 20x slower under load
        **stages,
    }


@pytest.fixture(scope="module")
def base_bundle(tmp_path_factory):
    from ml.train.run import train

    root = tmp_path_factory.mktemp("base")
    studies = synthetic.make_studies(root / "images", n=8, size=64, seed=1)
    overrides = {"model": {**synthetic.TINY_MODEL_CONFIG, "name": "site-test"}, "train": _train_cfg()}
    return train(None, root / "run", overrides=overrides, studies=studies)


@pytest.mark.slow
def test_a_site_refresh_is_gated_promoted_and_served_without_a_restart(uid, tmp_path, make_site, base_bundle):
    from ml.imaging import load_image
    from ml.models.promoted import PromotedModel
    from ml.train.refresh import refresh

    site = synthetic.make_studies(tmp_path / "site_images", n=10, size=64, seed=7)
    db = make_site(site)
    models = tmp_path / "models"
    run = tmp_path / "refresh"
    result = refresh([db], run, base_bundle=base_bundle, models=models, holdout=3, tolerance=1.0,
                     overrides={"train": {"report": {"max_steps": 2}}}, command="main.py train --from-store ws1.sqlite",
                     device="cpu", decoding=QUICK)  # fmt: skip

    gate = result.gate
    assert gate.passed and gate.holdout == 3 and gate.mode == "predicted"
    assert set(gate.current) >= {"CE-F1", "per_observation", "scanpath"} and gate.candidate["scanpath"]
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    prov = manifest["training"]["site"]
    assert prov["study_uids_sha256"] == uid_digest(uid(i) for i in range(7))
    assert prov["studies"] == 7 and prov["sessions"] == 14 and prov["readers"] == 3
    assert prov["base_bundle"]["version"] == "0.1.0" and prov["command"].startswith("main.py train")
    assert manifest["gate"]["passed"] and manifest["version"].startswith("0.1.0+site.")
    for f in result.bundle.rglob("*"):  # the bundle names no study
        assert not f.is_file() or uid(0)[:12].encode() not in f.read_bytes(), f
    assert "continuing from the weights of" in (run / "train.log").read_text()

    registry = ModelRegistry(models)
    serving = PromotedModel(models, check_every=0)
    assert serving.info()["version"] == "0.1.0" and registry.candidates()[0].id == result.entry.id
    registry.promote(result.entry.id)
    assert serving.info()["version"] == manifest["version"]
    draft = serving.generate(load_image(site[0].image_path), decoding=QUICK)
    assert draft.model["version"] == manifest["version"]
    registry.rollback()
    assert serving.info()["version"] == "0.1.0"

    again = refresh([db], run, models=models, resume=True, holdout=3, tolerance=1.0, device="cpu", decoding=QUICK,
                    overrides={"train": {"report": {"max_steps": 2}}})  # fmt: skip
    assert again.entry.id == result.entry.id and again.bundle == result.bundle
    assert (run / "train.log").read_text().count("complete in checkpoint, skipped") == 3


@pytest.mark.slow
def test_a_refresh_starts_from_every_weight_of_the_base_bundle(base_bundle):
    import torch
    from safetensors.torch import load_file

    from ml.models.bundle import build_model, read_manifest
    from ml.models.config import model_config_from_dict
    from ml.train.warm import load_bundle_weights

    net = build_model(model_config_from_dict(read_manifest(base_bundle)["config"]), tiny=True)
    load_bundle_weights(net, base_bundle)
    for name, module in net.small_modules().items():
        saved = load_file(base_bundle / f"{name}.safetensors")
        assert all(torch.equal(module.state_dict()[k].float(), v) for k, v in saved.items()), name
    lora = {k: v for k, v in net.llm.state_dict().items() if "lora_B" in k}
    assert lora and any(v.abs().sum() > 0 for v in lora.values())  # fresh LoRA B matrices are zero
