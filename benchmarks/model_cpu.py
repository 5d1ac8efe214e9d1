"""Model timings: report-stage training step, generation tokens/s, scanpath prediction ms per image.

Prints one JSON object. Uses the demo bundle when it loads (else a fresh model on the default
LLM); ``--tiny`` uses the tiny random Llama instead (seconds, for a smoke run). CUDA figures are
added when a GPU is present. The machine may be shared: the load average is recorded, and the
figures are medians over repeats.

    python benchmarks/model_cpu.py [--threads N] [--repeats R] [--tiny] [--out benchmarks/results/model_cpu.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _model(device: str, tiny: bool):
    from ml.models.bundle import DEMO_BUNDLE, build_model, load_bundle
    from ml.models.config import ModelConfig, from_dict
    from ml.models.gaze2report import Gaze2ReportDrafter
    from ml.train.synthetic import TINY_MODEL_CONFIG

    if tiny:
        net = build_model(from_dict(ModelConfig, TINY_MODEL_CONFIG), device=device, tiny=True)
        return Gaze2ReportDrafter(net, {"name": "tiny"}), "tiny random Llama (test model)"
    if (DEMO_BUNDLE / "manifest.json").exists():
        return load_bundle(DEMO_BUNDLE, device=device), "assets/demo_bundle"
    net = build_model(ModelConfig(), device=device)
    return Gaze2ReportDrafter(net, {"name": "untrained"}), "fresh model on the default LLM"


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def bench(device: str, repeats: int, tiny: bool) -> dict:
    import numpy as np
    import torch

    from ml.contracts import Decoding
    from ml.models.graph import fixation_table
    from ml.models.scanpath import scanpath_targets  # noqa: F401  (import cost outside timings)
    from ml.train.stages import lora_params, set_trainable
    from ml.types import Image

    drafter, what = _model(device, tiny)
    net = drafter.net
    cfg = net.cfg
    rng = np.random.default_rng(0)
    image = Image(pixels=rng.uniform(0, 4095, (1024, 1024)).astype(np.float32))
    out: dict = {
        "model": what,
        "device": device,
        "image_size": cfg.encoder.image_size,
        "llm_layers": int(net.llm.config.num_hidden_layers),
    }

    # scanpath prediction: preprocess + encoder + predictor, one image
    times = []
    for i in range(max(repeats * 5, 10)):
        _sync(device)
        t = time.perf_counter()
        drafter.predict_scanpaths(image, n=1, seed=i)
        _sync(device)
        times.append(time.perf_counter() - t)
    out["scanpath_ms_per_image"] = round(1000 * statistics.median(times[2:]), 2)
    x = torch.rand(1, 1, cfg.encoder.image_size, cfg.encoder.image_size, device=net.device)
    times = []
    with torch.no_grad():
        feats = net.encoder.features(x)
        for _ in range(max(repeats * 5, 10)):
            _sync(device)
            t = time.perf_counter()
            net.scanpath.sample(net.scanpath(feats), n=4, seed=0)
            _sync(device)
            times.append(time.perf_counter() - t)
    out["scanpath_predictor_only_ms_4_samples"] = round(1000 * statistics.median(times[2:]), 2)

    # generation: greedy, fixed number of tokens (no eos stop: repetition settings off); with the
    # known-words guard (the default) and without, interleaved, so their ratio shares the load;
    # no redraft here (it is timed on its own below)
    dec = Decoding(max_new_tokens=48, repetition_penalty=1.0, no_repeat_ngram_size=0, redraft=0)
    raw = Decoding(
        max_new_tokens=48, repetition_penalty=1.0, no_repeat_ngram_size=0, known_words=False, redraft=0
    )
    rates: dict[str, list[float]] = {"known": [], "raw": []}
    for _ in range(repeats):
        for key, decoding in (("known", dec), ("raw", raw)):
            _sync(device)
            t = time.perf_counter()
            d = drafter.generate(image, decoding=decoding)
            _sync(device)
            rates[key].append(d.n_tokens / (time.perf_counter() - t))
    out["generate_tokens_per_s"] = round(statistics.median(rates["known"]), 2)
    out["generate_tokens_per_s_any_words"] = round(statistics.median(rates["raw"]), 2)
    out["known_words_slowdown"] = round(
        statistics.median(rates["raw"]) / statistics.median(rates["known"]), 3
    )
    out["generate_tokens"] = dec.max_new_tokens

    # a redraft: Decoding.redraft drafts sampled in one batch, against one first draft from the
    # same prompt, interleaved (a draft that already agrees with the image model costs no redraft)
    from ml.models.redraft import REDRAFT_TEMPERATURE

    n = Decoding.redraft
    with torch.no_grad():
        prompt = net.prompt_embeds(drafter._features(image), [None], [image.size], ["image_only"])[0][0]
    first_s, batch_s = [], []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        net.generate_ids(prompt, dec)
        _sync(device)
        first_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        net.sample_ids(prompt, dec, n, REDRAFT_TEMPERATURE)
        _sync(device)
        batch_s.append(time.perf_counter() - t)
    out["redraft_drafts"] = n
    out["redraft_s"] = round(statistics.median(batch_s), 3)
    out["redraft_cost_vs_first_draft"] = round(statistics.median(batch_s) / statistics.median(first_s), 3)

    # one report-stage training step (batch 4, real-gaze graphs, report of ~70 tokens)
    net.train()
    set_trainable(net, list(net.gnn.parameters()) + list(net.projector.parameters()) + lora_params(net))
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    with torch.no_grad():
        feats = net.encoder.features(
            torch.rand(4, 1, cfg.encoder.image_size, cfg.encoder.image_size, device=net.device)
        )
    tab = fixation_table(torch.rand(16, 3) * torch.tensor([1.0, 1.0, 0.5])).to(net.device)
    rep = net.report_ids(
        "FINDINGS: The cardiac silhouette is enlarged. There is a moderate right pleural effusion with a "
        "meniscus. No pneumothorax. The lungs are otherwise clear.\n\nIMPRESSION: Cardiomegaly. Moderate "
        "right pleural effusion."
    )
    steps = []
    for _ in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        loss = net(None, [tab] * 4, [(1024, 1024)] * 4, ["real_gaze"] * 4, [rep] * 4, features=feats)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad()
        _sync(device)
        steps.append(time.perf_counter() - t)
    out["train_step_s_batch4"] = round(statistics.median(steps[1:]), 3)
    out["train_tokens_per_step"] = 4 * (len(rep) + 60)
    net.eval()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = {
        "benchmark": "model_cpu",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": args.threads,
            "load_avg_before": os.getloadavg(),
        },
        "cpu": bench("cpu", args.repeats, args.tiny),
    }
    if torch.cuda.is_available():
        result["cuda"] = bench("cuda", args.repeats, args.tiny)
        result["machine"]["gpu"] = torch.cuda.get_device_name(0)
    else:
        result["cuda"] = None
    result["machine"]["load_avg_after"] = os.getloadavg()
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
