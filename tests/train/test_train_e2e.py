"""A tiny run through all three stages (tiny random Llama), resume, and the generate CLI on its bundle."""

import contextlib
import io
import json

import pytest

from ml.train import data as data_mod
from ml.train import synthetic


def _overrides(cohort):
    return {
        "model": synthetic.TINY_MODEL_CONFIG,
        "train": {
            "cohort": str(cohort),
            "encoder": {"epochs": 1, "batch_size": 4},
            "scanpath": {"epochs": 2, "batch_size": 4},
            "report": {"epochs": 1, "batch_size": 4},
            "val_every": 2,
            "val_batches": 1,
            "log_every": 1,
            "eval_samples": 1,
        },
    }


@pytest.fixture
def studies(tmp_path, monkeypatch):
    s = synthetic.make_studies(tmp_path / "data", n=10, size=64)
    monkeypatch.setattr(data_mod, "load_studies", lambda cohort: s)
    return s


@pytest.mark.slow
def test_train_resume_and_generate_json(tmp_path, studies):
    from ml.cli import main as cli_main
    from ml.models.bundle import read_manifest
    from ml.train.run import RunError, train

    run = tmp_path / "run"
    bundle = train(None, run, overrides=_overrides(tmp_path / "data"))
    for name in ("config.json", "train.log", "metrics.jsonl", "curves.png"):
        assert (run / name).exists(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in records} == {"encoder", "scanpath", "report"}
    assert any(r["split"] == "val" and "loss_image_only" in r for r in records if r["stage"] == "report")
    manifest = read_manifest(bundle)
    assert manifest["training"]["seed"] == 0 and manifest["config"]["llm"]["name_or_path"] == "tiny"
    summary = json.loads((bundle / "eval_summary.json").read_text())
    assert set(summary["modes"]) == {"predicted", "image_only", "real_gaze", "no_gnn"}
    assert (bundle / "training_log.txt").exists()
    gate = manifest["domain_gate"]  # every trained bundle carries a domain gate and a calibration
    assert gate["method"] == gate["comparison"]["chosen"] and isinstance(gate["threshold"], float)
    assert gate["fitted_on"]["training_images"] == manifest["training"]["splits"]["train"]
    assert set(manifest["calibration"]["scale"]) == set(manifest["calibration"]["prevalence"])
    assert "ece" in manifest["training"]["checks"]["encoder"]

    with pytest.raises(RunError, match="--resume"):
        train(None, run, overrides=_overrides(tmp_path / "data"))
    train(None, run, resume=True, overrides=_overrides(tmp_path / "data"))
    log = (run / "train.log").read_text()
    assert log.count("complete in checkpoint, skipped") == 3

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli_main(
            ["generate", studies[0].image_path, "--bundle", str(bundle), "--json", "--max-tokens", "6"]
        )
    assert rc == 0
    out = json.loads(buf.getvalue())
    assert {"report", "findings", "scanpath", "attention", "model"} <= set(out)
    assert all(set(f) == {"label", "probability", "place", "in_draft"} for f in out["findings"])
    assert len(out["scanpath"]) == len(out["attention"]) >= 1
    assert set(out["scanpath"][0]) == {"x", "y", "duration"}
    assert out["model"]["name"] == "gaze2report"


def test_resume_mid_stage_continues_from_the_checkpoint(tmp_path, studies):
    import torch

    from ml.train.run import train

    run = tmp_path / "run"
    ov = _overrides(tmp_path / "data")
    ov["train"]["stages"] = ["encoder"]
    ov["train"]["encoder"] = {"epochs": 3, "batch_size": 4}
    ov["train"]["ckpt_every"] = 1
    ov["train"]["eval_samples"] = 0
    train(None, run, overrides=ov)
    full = torch.load(run / "checkpoints" / "encoder.pt", weights_only=False)
    assert full["complete"] and full["step"] == full["total"] == 6
    # pretend the run died after step 4: rewrite the checkpoint as a partial one and resume
    ck = run / "checkpoints" / "encoder.pt"
    state = torch.load(ck, weights_only=False)
    state.update(complete=False, step=4)
    torch.save(state, ck)
    train(None, run, resume=True, overrides=ov)
    assert "resumed at step 4/6" in (run / "train.log").read_text()
    assert torch.load(ck, weights_only=False)["complete"]


def test_stages_trained_in_separate_calls_match_an_unbroken_run(tmp_path, studies):
    import torch

    from ml.train.run import train

    ov = _overrides(tmp_path / "data")
    ov["train"]["eval_samples"] = 0
    ov["train"]["stages"] = ["encoder", "scanpath"]
    train(None, tmp_path / "whole", overrides=ov)
    ov["train"]["stages"] = ["encoder"]
    train(None, tmp_path / "split", overrides=ov)
    ov["train"]["stages"] = ["encoder", "scanpath"]
    train(None, tmp_path / "split", resume=True, overrides=ov)

    def scanpath_params(run):
        state = torch.load(run / "checkpoints" / "scanpath.pt", weights_only=False)["params"]
        return {k: v for k, v in state.items() if k.startswith("scanpath.")}

    whole, split = scanpath_params(tmp_path / "whole"), scanpath_params(tmp_path / "split")
    assert whole and whole.keys() == split.keys()
    for k in whole:
        assert torch.equal(whole[k], split[k]), k


def test_encoder_check_scores_the_whole_validation_split(tmp_path, monkeypatch):
    """``max_val`` caps periodic validation; the encoder check in the manifest still sees every val image."""
    from ml.models.bundle import read_manifest
    from ml.train.run import train

    s = synthetic.make_studies(tmp_path / "data", n=20, size=64)  # 3 val images
    monkeypatch.setattr(data_mod, "load_studies", lambda cohort: s)
    ov = _overrides(tmp_path / "data")
    ov["train"].update(eval_samples=0, stages=["encoder"], max_val=1)
    manifest = read_manifest(train(None, tmp_path / "run", overrides=ov))
    n_val = sum(st.split == "val" for st in s)
    assert n_val == 3 and manifest["training"]["splits"]["val"] == 1
    check = manifest["training"]["checks"]["encoder"]
    assert check["images"] == n_val
    assert set(check["positives"]) == set(check["auc"])
    assert all(0 < n < n_val for n in check["positives"].values())


def test_encoder_cohorts_only_pre_train_the_encoder(tmp_path, monkeypatch):
    """Every study of an encoder cohort trains the encoder; the other stages, validation and test
    keep ``train.cohort``'s studies."""
    from ml.models.bundle import read_manifest
    from ml.train import stages
    from ml.train.run import train

    main = synthetic.make_studies(tmp_path / "main", n=20, size=64)
    extra = synthetic.make_studies(tmp_path / "extra", n=10, size=64)
    by_path = {str(tmp_path / "main"): main, str(tmp_path / "extra"): extra}
    monkeypatch.setattr(data_mod, "load_studies", lambda cohort: by_path[str(cohort)])
    seen = {}
    for name in ("encoder_stage", "scanpath_stage"):
        real = getattr(stages, name)

        def spy(net, data, train_rows, *a, _real=real, _name=name, **k):
            seen[_name] = [data.ids[i] for i in train_rows]
            return _real(net, data, train_rows, *a, **k)

        monkeypatch.setattr(stages, name, spy)
    ov = _overrides(tmp_path / "main")
    ov["train"].update(
        eval_samples=0, stages=["encoder", "scanpath"], encoder_cohorts=[str(tmp_path / "extra")]
    )
    splits = read_manifest(train(None, tmp_path / "run", overrides=ov))["training"]["splits"]
    count = {k: sum(s.split == k for s in main) for k in ("train", "val", "test")}
    assert splits == {**count, data_mod.ENCODER_ONLY: len(extra)}
    main_train = [s.id for s in main if s.split == "train"]
    assert seen["scanpath_stage"] == main_train
    assert seen["encoder_stage"] == main_train + [f"extra/{s.id}" for s in extra]


def test_as_encoder_only_prefixes_ids_and_leaves_the_input_alone(tmp_path):
    s = synthetic.make_studies(tmp_path / "d", n=4, size=32)
    out = data_mod.as_encoder_only(s, "nod")
    assert [x.id for x in out] == [f"nod/{x.id}" for x in s]
    assert {x.split for x in out} == {data_mod.ENCODER_ONLY}
    assert [x.image_path for x in out] == [x.image_path for x in s]
    assert all(not x.id.startswith("nod/") for x in s)
