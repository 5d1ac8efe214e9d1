"""CPU generation speed: plain transformers fp32 (before) vs the backend's CPU schemes (after).

One process, one prompt (the drafter's default), greedy decoding with the service defaults.
Variants run interleaved, round after round, so load from other processes on a shared machine
hits all of them alike; speed-ups are medians of per-round ratios against the baseline.

Quality is measured two ways against fp32: how many greedy tokens match before the first
difference, and the mean negative log-likelihood of a fixed reference report under each
variant (teacher forcing; lower is better; equal to fp32 means no measurable loss). Prints JSON.

    python benchmarks/cpu_speedup.py [--rounds 4] [--tokens 60] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Reference reports for the likelihood check (typical chest X-ray wording, written for this benchmark).
REFERENCE = (
    " The heart is normal in size. The mediastinum is unremarkable. The lungs are clear without focal "
    "consolidation, pleural effusion or pneumothorax. No acute bony abnormality.\n"
    "IMPRESSION: No acute cardiopulmonary disease.",
    " The cardiac silhouette is enlarged. There is mild pulmonary vascular congestion and small "
    "bilateral pleural effusions with bibasilar atelectasis. No pneumothorax.\n"
    "IMPRESSION: Cardiomegaly with mild interstitial edema and small bilateral effusions.",
    " Right lower lobe airspace opacity is present, concerning for pneumonia. The left lung is clear. "
    "A right internal jugular central venous catheter terminates in the superior vena cava.\n"
    "IMPRESSION: Right lower lobe pneumonia. Support device in standard position.",
)


def decode(model, tokenizer, enc, tokens: int) -> dict:
    import torch

    class Clock:
        def __init__(self) -> None:
            self.times: list[float] = []
            self.seen = False

        def put(self, value) -> None:
            if self.seen:
                self.times.append(time.perf_counter())
            self.seen = True

        def end(self) -> None:
            pass

    clock = Clock()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=tokens,
            min_new_tokens=tokens,  # same amount of work for every variant
            do_sample=False,
            repetition_penalty=1.1,
            no_repeat_ngram_size=4,
            pad_token_id=tokenizer.pad_token_id,
            streamer=clock,
        )
    end = time.perf_counter()
    return {
        "ids": out[0, enc["input_ids"].shape[1] :].tolist(),
        "ttft_s": clock.times[0] - start,
        "tok_per_s": (len(clock.times) - 1) / (end - clock.times[0]),
        "e2e_s": end - start,
    }


def reference_nll(model, tokenizer, prompt: str) -> float:
    """Mean per-token negative log-likelihood of the reference reports after the prompt."""
    import torch

    p = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    total, count = 0.0, 0
    for text in REFERENCE:
        r = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        ids = torch.cat([p, r], 1)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, p.shape[1] - 1 : -1], -1)
        total += float(-logp.gather(1, r[0][:, None]).sum())
        count += r.shape[1]
    return total / count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1, help="threads for the optimised variants")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import numpy as np
    import torch

    from ml.models.drafter import Drafter
    from ml.models.fastcpu import optimize_for_cpu
    from ml.types import Image

    default_threads = torch.get_num_threads()
    drafter = Drafter.load(None, device="cpu")  # fp32, as transformers loads it
    base, tok = drafter.model, drafter.tokenizer
    prompt = drafter.prompt(Image(np.zeros((8, 8), np.uint16), view_position="PA"))
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)

    # name -> (model, threads)
    variants = {
        f"fp32_transformers_default_{default_threads}t": (base, default_threads),
        f"fp32_{args.threads}t": (base, args.threads),
        f"bf16_{args.threads}t": (optimize_for_cpu(copy.deepcopy(base), "bf16"), args.threads),
        f"int8_weight_only_{args.threads}t": (optimize_for_cpu(copy.deepcopy(base), "int8"), args.threads),
        f"int4_weight_only_g32_int8_head_{args.threads}t": (
            optimize_for_cpu(copy.deepcopy(base), "int4"),
            args.threads,
        ),
    }
    baseline = next(iter(variants))
    same_threads_fp32 = f"fp32_{args.threads}t"
    for model, threads in variants.values():  # warm-up
        torch.set_num_threads(threads)
        decode(model, tok, enc, 4)

    runs: dict[str, list[dict]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, (model, threads) in variants.items():
            torch.set_num_threads(threads)
            runs[name].append(decode(model, tok, enc, args.tokens))

    ref_ids = runs[baseline][0]["ids"]
    result = {
        "benchmark": "cpu_speedup",
        "model": "SmolLM2-135M-Instruct (embedded; weights dequantised from GGUF Q4_1)",
        "prompt_tokens": int(enc["input_ids"].shape[1]),
        "new_tokens": args.tokens,
        "rounds": args.rounds,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg_1m_at_end": os.getloadavg()[0],
        "baseline": baseline,
        "variants": {},
    }
    for name, (model, threads) in variants.items():
        torch.set_num_threads(threads)
        rs = runs[name]
        ids = rs[0]["ids"]
        prefix = next((i for i, (a, b) in enumerate(zip(ids, ref_ids, strict=False)) if a != b), len(ids))
        result["variants"][name] = {
            "threads": threads,
            "tok_per_s_median": statistics.median(r["tok_per_s"] for r in rs),
            "ttft_s_median": statistics.median(r["ttft_s"] for r in rs),
            "e2e_s_median": statistics.median(r["e2e_s"] for r in rs),
            "speedup_tok_per_s_vs_baseline": statistics.median(
                r["tok_per_s"] / b["tok_per_s"] for r, b in zip(rs, runs[baseline], strict=True)
            ),
            "speedup_tok_per_s_vs_fp32_same_threads": statistics.median(
                r["tok_per_s"] / b["tok_per_s"] for r, b in zip(rs, runs[same_threads_fp32], strict=True)
            ),
            "speedup_e2e_vs_baseline": statistics.median(
                b["e2e_s"] / r["e2e_s"] for r, b in zip(rs, runs[baseline], strict=True)
            ),
            "greedy_tokens_identical_to_fp32_before_first_difference": prefix,
            "reference_reports_nll_per_token": reference_nll(model, tok, prompt),
            "text": tok.decode(ids, skip_special_tokens=True)[:160],
        }
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
