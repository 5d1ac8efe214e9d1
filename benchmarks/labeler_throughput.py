"""Rule labeler throughput on the 3,955 Indiana University reports (the issue asks for thousands/s).

    python benchmarks/labeler_throughput.py [--repeats 3] > benchmarks/results/labeler_throughput.json

Baseline in the same run: the same labeler without its trigger-word shortcut (every observation's
regex on every sentence; identical labels, see tests/metrics/test_labeler.py), so
``speedup_from_triggers`` is meaningful on any machine. The machine is shared: the 1-minute load
average is recorded, and wall-clock reports/s scale with the share of a core the run got;
``labeler_reports_per_cpu_second`` (process CPU time) depends much less on the other load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from ml.datasets.iu_xray import load_reports
    from ml.metrics import labeler as lab

    studies = load_reports()
    texts = [f"{s.report.findings}\n{s.report.impression}" for s in studies if s.report is not None]
    fast, exhaustive = lab.Labeler(use_triggers=True), lab.Labeler(use_triggers=False)

    def full() -> None:
        for t in texts:
            fast.label(t)

    def baseline() -> None:
        for t in texts:
            exhaustive.label(t)

    cpu: dict[str, list[float]] = {}

    def timed(fn) -> list[float]:
        out = []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            out.append(time.perf_counter() - t0)
            cpu.setdefault(fn.__name__, []).append(time.process_time() - c0)
        return out

    full()  # warm up (regex compilation, caches)
    t_full, t_base = timed(full), timed(baseline)
    med_full, med_base = statistics.median(t_full), statistics.median(t_base)
    print(json.dumps({
        "benchmark": "labeler_throughput",
        "reports": len(texts),
        "repeats": args.repeats,
        "labeler_seconds_median": round(med_full, 4),
        "labeler_reports_per_second": round(len(texts) / med_full, 1),
        "labeler_reports_per_cpu_second": round(len(texts) / statistics.median(cpu["full"]), 1),
        "no_trigger_reports_per_second": round(len(texts) / med_base, 1),
        "speedup_from_triggers": round(med_base / med_full, 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
