"""Evaluation wall time with worker processes: ``eval --jobs N`` against one process, same images.

Runs the demo bundle (or ``--bundle``) through every ablation row on the first ``--limit`` images
of a cohort split, once in this process and once with ``--jobs`` spawned workers, alternating the
order over ``--rounds`` so shared-CPU noise hits both alike; reports the median ratio of wall
times and checks the drafts are identical. Prints JSON.

    python benchmarks/eval_jobs.py --cohort runs/cohort-demo [--limit 6] [--jobs 2] [--rounds 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", required=True)
    p.add_argument("--bundle", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=6)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=100)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from ml.cli.eval import load_model
    from ml.contracts import Decoding
    from ml.eval.runner import EvalConfig, load_cases, run_eval

    cases, reference = load_cases(args.cohort, split=args.split, limit=args.limit)
    config = EvalConfig(
        split=args.split,
        decoding=Decoding(max_new_tokens=args.max_new_tokens),
        meteor=False,
        examples=0,
        progress=False,
    )
    make_model = functools.partial(load_model, args.bundle, "cpu", 1)
    model = make_model()
    load_avg_before = os.getloadavg()
    times: dict[str, list[float]] = {"one": [], "jobs": []}
    drafts: dict[str, list] = {}
    for r in range(args.rounds):
        order = ("one", "jobs") if r % 2 == 0 else ("jobs", "one")
        for which in order:
            t0 = time.perf_counter()
            if which == "one":
                res = run_eval(model, cases, config, reference=reference)
            else:
                res = run_eval(make_model, cases, config, reference=reference, jobs=args.jobs)
            times[which].append(time.perf_counter() - t0)
            drafts[which] = [c["generated"] for c in res["cases"]]
    ratios = [o / j for o, j in zip(times["one"], times["jobs"], strict=True)]
    return emit(
        {
            "benchmark": "eval_jobs",
            "machine": {
                "cpu_count": os.cpu_count(),
                "platform": platform.platform(),
                "load_avg_before": load_avg_before,
                "load_avg_after": os.getloadavg(),
            },
            "images": len(cases),
            "rows": len(config.rows),
            "jobs": args.jobs,
            "threads_per_process": 1,
            "seconds_one_process": times["one"],
            "seconds_jobs": times["jobs"],
            "speedup_median": round(statistics.median(ratios), 3),
            "identical_drafts": drafts["one"] == drafts["jobs"],
        },
        args.out,
    )


if __name__ == "__main__":
    sys.exit(main())
