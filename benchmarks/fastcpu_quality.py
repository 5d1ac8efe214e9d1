"""Draft quality of a bundle served in the fast CPU format against fp32, on a cohort's split.

Loads the bundle twice (fp32 as trained, and LoRA merged + ``--scheme`` as ``serve`` runs it on
the CPU) and runs ``ml.eval.cpu_quality.compare_formats`` on the split's cases: reference-report
likelihood and CE micro F1 for both, and whether the difference is within the stated tolerance.
Prints JSON (with the load average, since the wall time is only indicative here).

    python benchmarks/fastcpu_quality.py --cohort runs/cohort-demo [--split test] [--limit 0]
        [--bundle assets/demo_bundle] [--scheme int4] [--tokens 160] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, required=True, help="a cohort folder (python main.py cohort)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=0, help="first N cases only (0 = the whole split)")
    ap.add_argument("--bundle", type=Path, default=None, help="default: the demo bundle")
    ap.add_argument("--scheme", default="int4", choices=("bf16", "int8", "int4"))
    ap.add_argument("--tokens", type=int, default=160)
    ap.add_argument("--redraft", type=int, default=0, help="redrafts per draft (0: the first draft only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from ml.cohort.load import load_cohort
    from ml.contracts import Decoding
    from ml.eval.cpu_quality import compare_formats
    from ml.models.bundle import load_bundle
    from ml.models.fastcpu import fast_cpu_bundle

    torch.set_num_threads(args.threads)
    studies = load_cohort(args.cohort, per="case", split=args.split)
    if args.limit:
        studies = studies[: args.limit]
    reference = load_bundle(args.bundle, device="cpu")
    fast = fast_cpu_bundle(load_bundle(args.bundle, device="cpu"), args.scheme)
    start = time.perf_counter()
    result = compare_formats(
        reference, fast, studies, Decoding(max_new_tokens=args.tokens, redraft=args.redraft)
    )
    return emit(
        {
            "benchmark": "fastcpu_quality",
            "bundle": str(args.bundle or "demo"),
            "cohort": str(args.cohort),
            "split": args.split,
            "scheme": args.scheme,
            "max_new_tokens": args.tokens,
            "redraft": args.redraft,
            **result,
            "wall_s": round(time.perf_counter() - start, 1),
            "load_average": os.getloadavg(),
        },
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
