"""The reader's wait: the app's default case drafted by the demo bundle, fp32 as trained vs as served.

Both decode through the project's loop (``ml/models/decode.py``); "served" is what ``serve`` loads on
the CPU (LoRA merged, ``--scheme`` weight-only layers; ``ml.models.fastcpu.fast_cpu_bundle``). Default
decoding (greedy first draft, then the redraft's sampled batch when the first draft disagrees with the
encoder). Per variant: time to the first token, to the whole draft (redraft included), tokens,
whether it was redrafted. Rounds alternate the variants; ratios are medians of per-round ratios. JSON.

    python benchmarks/default_case_draft.py [--rounds 2] [--threads 1] [--scheme int4] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scheme", default="int4", choices=("bf16", "int8", "int4"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from ml.cohort.default_case import ensure_default_case
    from ml.contracts import Decoding
    from ml.imaging import load_image
    from ml.models.bundle import load_bundle
    from ml.models.fastcpu import fast_cpu_bundle

    torch.set_num_threads(args.threads)
    image = load_image(ensure_default_case() / "image.dcm")
    models = {"fp32": load_bundle(None, device="cpu"), "served": fast_cpu_bundle(load_bundle(None, device="cpu"), args.scheme)}

    def draft(model) -> dict:
        first: list[float] = []
        start = time.perf_counter()
        out = model.generate(image, None, Decoding(), on_token=lambda _: first or first.append(time.perf_counter()))
        end = time.perf_counter()
        return {"ttft_s": first[0] - start, "draft_s": end - start, "tokens": out.n_tokens, "redrafted": out.redrafted}

    rounds = [{name: draft(m) for name, m in models.items()} for _ in range(args.rounds)]

    def med(f):
        return round(statistics.median(f(r) for r in rounds), 3)

    return emit(
        {
            "benchmark": "default_case_draft",
            "scheme": args.scheme,
            "threads": args.threads,
            "summary": {
                "fp32_draft_s": med(lambda r: r["fp32"]["draft_s"]),
                "served_draft_s": med(lambda r: r["served"]["draft_s"]),
                "served_ttft_s": med(lambda r: r["served"]["ttft_s"]),
                "fp32_ttft_s": med(lambda r: r["fp32"]["ttft_s"]),
                "speedup_draft": med(lambda r: r["fp32"]["draft_s"] / r["served"]["draft_s"]),
            },
            "rounds": rounds,
            "load_average": os.getloadavg(),
            "cpu_count": os.cpu_count(),
        },
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
