"""Gaze recording throughput: samples/s sustained, drops, and latency sample → stored.

    python benchmarks/recorder_throughput.py [--rate 12000] [--seconds 10] > benchmarks/results/recorder_throughput.json

The target is 10x a Tobii Pro Spectrum (1,200 Hz): 12,000 samples/s through the whole path
(source thread → Recorder.push → bounded queue → writer thread → SQLite WAL commit every 100 ms).

Runs, all in one process on the same database directory, so their ratios compare on any machine:

* ``paced``: a producer thread stamps samples with the monotonic clock and pushes them in real
  time at ``--rate`` for ``--seconds``;
* ``paced_with_gui_load``: the same while a "GUI" thread renders a 1024x1024 16-bit image with
  window/level at 60 frames/s (numpy) and runs Python work between frames, competing for the GIL
  and the cores as the viewer would;
* ``max``: the producer pushes as fast as it can (queue large enough not to drop) to find the
  writer's ceiling.

Latency is per sample: commit time (taken in the writer's ``on_batch`` hook, right after the
commit) minus the sample's timestamp; it includes queueing for up to one flush interval by design.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.gaze.recorder import Recorder  # noqa: E402
from ml.gaze.sources.base import now_us  # noqa: E402
from ml.store import Store  # noqa: E402
from ml.types import GazeSample  # noqa: E402


def gui_load(stop: threading.Event, frames: list[int]) -> None:
    """Window/level a 16-bit 1024x1024 image to 8 bits at 60 fps, plus some Python bookkeeping."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4096, (1024, 1024), dtype=np.uint16)
    lut = np.clip((np.arange(4096) - 1024) * 255.0 / 2048, 0, 255).astype(np.uint8)
    period = 1 / 60
    nxt = time.perf_counter()
    while not stop.is_set():
        _ = lut[img]  # window/level through a display LUT, as the viewer does
        _ = sum(i * i for i in range(3000))  # overlay/geometry bookkeeping in Python
        frames[0] += 1
        nxt += period
        delay = nxt - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def run(db: Path, rate: float | None, seconds: float, with_load: bool, flush: float) -> dict:
    latencies: list[np.ndarray] = []

    def on_batch(batch):  # runs in the writer thread right after the commit
        now = now_us()
        latencies.append(now - np.fromiter((s.t_us for s in batch), dtype=np.int64, count=len(batch)))

    rec = Recorder(
        db, study="bench", reader="bench", flush_interval=flush, max_queue=1 << 22, on_batch=on_batch
    )
    sid = rec.start()
    stop = threading.Event()
    frames = [0]
    gui = threading.Thread(target=gui_load, args=(stop, frames), daemon=True) if with_load else None
    if gui:
        gui.start()
    pushed = 0
    t_start = time.perf_counter()
    t0 = now_us()
    if rate:
        period_us = 1e6 / rate
        while True:
            now = now_us()
            if now - t0 >= seconds * 1e6:
                break
            due = int((now - t0) / period_us)
            while pushed <= due:
                rec.push(GazeSample(now, 960.0 + pushed % 7, 540.0, True, 3.0, pushed))
                pushed += 1
            time.sleep(0.0005)
    else:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(1000):
                rec.push(GazeSample(now_us(), 960.0, 540.0, True, 3.0, pushed))
                pushed += 1
    produce_s = time.perf_counter() - t_start
    status = rec.stop()
    total_s = time.perf_counter() - t_start
    stop.set()
    if gui:
        gui.join()
    with Store(db, read_only=True) as store:
        stored = store.sample_count(sid)
    lat = np.concatenate(latencies) / 1e3 if latencies else np.zeros(1)
    return {
        "offered_rate_hz": round(pushed / produce_s, 1),
        "pushed": pushed,
        "stored": stored,
        "dropped": status.dropped,
        "lost_uncounted": pushed - stored - status.dropped,
        "stored_rate_hz": round(stored / total_s, 1),
        "flushes": status.flushes,
        "latency_ms": {
            "mean": round(float(lat.mean()), 2),
            "p50": round(float(np.percentile(lat, 50)), 2),
            "p99": round(float(np.percentile(lat, 99)), 2),
            "max": round(float(lat.max()), 2),
        },
        "gui_frames_per_s": round(frames[0] / produce_s, 1) if with_load else None,
        "state": status.state,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=12000.0, help="paced rate, samples/s (default 12000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each paced run")
    ap.add_argument("--max-seconds", type=float, default=3.0, help="duration of the unpaced run")
    ap.add_argument("--flush", type=float, default=0.1, help="flush interval, s (default 0.1)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "paced": run(Path(tmp) / "a.db", args.rate, args.seconds, False, args.flush),
            "paced_with_gui_load": run(Path(tmp) / "b.db", args.rate, args.seconds, True, args.flush),
            "max": run(Path(tmp) / "c.db", None, args.max_seconds, False, args.flush),
        }
    target = args.rate
    out = {
        "benchmark": "recorder_throughput",
        "target_rate_hz": target,
        "flush_interval_s": args.flush,
        "runs": runs,
        "ratios": {
            "offered_vs_target_with_gui_load": round(
                runs["paced_with_gui_load"]["offered_rate_hz"] / target, 3
            ),
            "stored_vs_pushed_with_gui_load": round(
                runs["paced_with_gui_load"]["stored"] / max(1, runs["paced_with_gui_load"]["pushed"]), 6
            ),
            "writer_max_vs_target": round(runs["max"]["stored_rate_hz"] / target, 2),
        },
        "meets_target": all(
            r["dropped"] == 0 and r["lost_uncounted"] == 0 and r["offered_rate_hz"] >= 0.98 * target
            for r in (runs["paced"], runs["paced_with_gui_load"])
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "note": "stored_rate_hz = stored / (production + final drain) time; in 'max' the producer "
        "competes with the writer for the GIL, so its latency is not representative of live use",
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
