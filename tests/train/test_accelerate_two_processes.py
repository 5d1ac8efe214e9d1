"""Training on several processes stays Accelerate's job: ``accelerate launch`` with two CPU processes
(gloo) runs the same tiny ``train`` as one process, and the result matches within tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("accelerate_tiny_train.py")


def _overrides(batch: int) -> dict:
    from ml.train import synthetic

    tiny = synthetic.TINY_MODEL_CONFIG
    return {
        "model": {**tiny, "llm": {**tiny["llm"], "max_report_tokens": 16}},
        "train": {
            "cohort": "synthetic",
            "encoder": {"epochs": 1, "batch_size": batch},
            "scanpath": {"epochs": 1, "batch_size": batch, "max_steps": 2},
            "report": {"epochs": 1, "batch_size": batch},
            "val_every": 100,
            "val_batches": 1,
            "log_every": 1,
            "eval_samples": 0,
        },
    }


def _launch(tmp_path: Path, processes: int, batch: int) -> Path:
    out = tmp_path / f"run{processes}"
    # torchrun's launcher with ACCELERATE_USE_CPU: Accelerate's MULTI_CPU over gloo (its --cpu
    # launcher runs several processes only through mpirun)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
        "--num_processes", str(processes), "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), str(SCRIPT), str(tmp_path / "data"), str(out),
        json.dumps(_overrides(batch)),
    ]  # fmt: skip
    if processes == 1:
        cmd.remove("--multi_gpu")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _final(run: Path) -> dict:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["stage"] == "report" and r["split"] == "val"]
    return val[-1]


def _encoder_update(run: Path) -> dict:
    """What training changed in the encoder's float weights (trained minus freshly built)."""
    import torch
    from safetensors.torch import load_file

    init = torch.load(run / "init_encoder.pt")
    trained = load_file(run / "bundle" / "encoder.safetensors")
    return {k: trained[k] - init[k].float() for k in init if init[k].is_floating_point() and "running" not in k}


def test_two_cpu_processes_train_like_one(tmp_path):
    import torch

    one = _launch(tmp_path, 1, batch=4)
    two = _launch(tmp_path, 2, batch=2)  # the same global batch, split over the processes
    log = (two / "train.log").read_text()
    assert "(2 process(es))" in log and (two / "bundle" / "manifest.json").exists(), log[-2000:]
    assert "(1 process(es))" in (one / "train.log").read_text()
    # the same start, the same steps on the same global batches: the encoder moved the same way
    # (gradients averaged over the processes), up to per-process BatchNorm statistics
    a, b = _encoder_update(one), _encoder_update(two)
    ua = torch.cat([v.flatten() for v in a.values()])
    ub = torch.cat([b[k].flatten() for k in a])
    assert float(ua.norm()) > 0
    cos = float(torch.nn.functional.cosine_similarity(ua, ub, dim=0))
    assert cos > 0.99, cos
    assert float((ua - ub).norm() / ua.norm()) < 0.1
    fa, fb = _final(one), _final(two)
    assert fa["loss"] == pytest.approx(fb["loss"], abs=0.05), (fa, fb)
