"""What ``accelerate launch`` runs in ``test_accelerate_two_processes.py``: a tiny ``train`` on synthetic
studies (each process writes the same seeded images into its own folder, then trains). The first
process also keeps the freshly built encoder's weights (``init_encoder.pt``), so the test can compare
what training changed."""

import json
import os
import sys
from pathlib import Path

import torch

from ml.models import bundle as bundle_mod
from ml.train import data as data_mod
from ml.train import synthetic
from ml.train.run import train

if __name__ == "__main__":
    torch.set_num_threads(1)
    data, out, overrides = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    rank = os.environ.get("LOCAL_RANK", "0")
    studies = synthetic.make_studies(data / f"rank{rank}", n=12, size=64)  # 8 training studies: whole batches
    data_mod.load_studies = lambda cohort: studies
    build = bundle_mod.build_model

    def build_and_keep(*args, **kwargs):
        net = build(*args, **kwargs)
        if rank == "0":
            out.mkdir(parents=True, exist_ok=True)
            torch.save({k: v.clone() for k, v in net.encoder.state_dict().items()}, out / "init_encoder.pt")
        return net

    bundle_mod.build_model = build_and_keep
    train(None, out, overrides=overrides)
