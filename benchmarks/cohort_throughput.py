"""Throughput of the synthetic cohort job: seconds per case, 1 worker vs all cores, stage breakdown.

    python benchmarks/cohort_throughput.py [--n 16] [--scale 1.0] > benchmarks/results/cohort_throughput.json

Builds the same ``n``-case cohort (full 1024² images, three readers each) with one worker and
with every core, in one run, and reports cases per minute, the parallel speed-up (a ratio measured
within the run) and the time a 500-case cohort would take at the measured rate. A per-stage
breakdown of a few cases (render, readers, writing) says where the time goes. The one-off set-up
(building the CT's attenuation slabs, ~10–30 s) is timed separately: the job pays it once.
The machine's load average is recorded too, and the speed-up a pure-Python loop gets on the same
cores at the same time (``control_speedup_pure_python``): on a shared machine both move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _stages(n: int, scale: float) -> dict[str, float]:
    """Mean seconds per case of each stage, measured on ``n`` cases in this process."""
    from ml.cohort import readers, reports, writer
    from ml.cohort.build import case_seed
    from ml.cohort.case import get_renderer, sample_case

    totals = {"render": 0.0, "readers": 0.0, "write_images_masks": 0.0, "write_readings": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i in range(n):
            spec = sample_case(f"B{i}", case_seed(99, i), 0.1, 0.3)
            t = time.perf_counter()
            rc = get_renderer().render(spec, scale=scale)
            totals["render"] += time.perf_counter() - t
            t = time.perf_counter()
            writer.write_images(rc, out / f"{i}.dcm", out / f"{i}.png", spec.geometry.pixel_mm)
            writer.write_masks(out / f"{i}.npz", rc)
            totals["write_images_masks"] += time.perf_counter() - t
            truth = [(tf.mask, tf.center, tf.lesion.subtle) for tf in rc.findings]
            for r, profile in enumerate(readers.READERS):
                rng = np.random.default_rng([i, r])
                t = time.perf_counter()
                reading = readers.read_case(rng, profile, rc.anatomy, truth, rc.size)
                rep = reports.write_report([writer.report_finding(tf) for tf in rc.findings], r, rng)
                totals["readers"] += time.perf_counter() - t
                t = time.perf_counter()
                writer.write_reading(
                    out / f"{i}_{r}", out / f"{i}_{r}", reading, readers.Display(), rep.text, []
                )
                totals["write_readings"] += time.perf_counter() - t
    return {k: round(v / n, 3) for k, v in totals.items()}


def _busy(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def _control_speedup(workers: int, n: int = 4_000_000) -> float:
    """Speed-up of a pure-Python loop on ``workers`` processes: what this machine's load allows."""
    import multiprocessing as mp

    t = time.perf_counter()
    for _ in range(workers):
        _busy(n)
    serial = time.perf_counter() - t
    t = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_busy, [n] * workers)
    return serial / (time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="cases per timed build")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--stage-cases", type=int, default=3)
    args = parser.parse_args()

    from ml.cohort.build import build_cohort
    from ml.cohort.case import get_renderer

    load_before = os.getloadavg()
    t = time.perf_counter()
    get_renderer()
    setup_s = time.perf_counter() - t
    cores = os.cpu_count() or 1
    runs = {}
    for workers in sorted({1, cores}):
        tmp = tempfile.mkdtemp(prefix="cohort-bench-")
        try:
            t = time.perf_counter()
            build_cohort(tmp, args.n, seed=1, workers=workers, progress=False, scale=args.scale)
            elapsed = time.perf_counter() - t
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        runs[workers] = elapsed
    best = min(runs.values())
    control = _control_speedup(cores) if cores > 1 else 1.0
    result = {
        "benchmark": "cohort_throughput",
        "n_cases": args.n,
        "image_size": round(1024 * args.scale),
        "readers_per_case": 3,
        "setup_s": round(setup_s, 1),
        "seconds": {f"workers_{w}": round(s, 1) for w, s in runs.items()},
        "seconds_per_case": {f"workers_{w}": round(s / args.n, 2) for w, s in runs.items()},
        "cases_per_minute": {f"workers_{w}": round(60 * args.n / s, 1) for w, s in runs.items()},
        "parallel_speedup": round(runs[1] / runs[cores], 2) if cores > 1 else 1.0,
        "control_speedup_pure_python": round(control, 2),
        "projected_500_cases_minutes": round((setup_s + 500 * best / args.n) / 60, 1),
        "stage_seconds_per_case_one_worker": _stages(args.stage_cases, args.scale),
        "cpu_count": cores,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
