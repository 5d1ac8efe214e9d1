"""A simulated LSL eye tracker, run in its own process by the LSL tests and the benchmark.

Publishes a binocular gaze stream (8 double channels: each eye's x, y in screen pixels, validity
and pupil, labelled, with their units, as the XDF gaze meta-data convention describes channels) at ``--rate`` Hz in 10 ms chunks, like a
tracker's driver. It waits for a consumer before the first sample, prints ``T0 <lsl time>`` (the
timestamp of sample 0; sample i is stamped T0 + i / rate), then sends ``--n`` samples, and with
``--die-after k`` exits abruptly (os._exit) once samples 0..k-1 are sent, as a crashed tracker app would. The
values are a function of the sample index (:func:`values`), so the receiver can check every one.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

LABELS = ("LeftGazeX", "LeftGazeY", "LeftValid", "LeftPupil", "RightGazeX", "RightGazeY", "RightValid", "RightPupil")
UNITS = ("pixels", "pixels", "", "mm", "pixels", "pixels", "", "mm")


def values(i: int) -> list[float]:
    """Sample i: both eyes on screen; every 97th the left eye is lost (blink-like)."""
    lx, ly = 100.0 + (i % 1600) * 0.5, 900.0 - (i % 800) * 0.25
    left_ok = i % 97 != 0
    return [
        lx if left_ok else math.nan,
        ly if left_ok else math.nan,
        1.0 if left_ok else 0.0,
        3.0 + (i % 7) / 8 if left_ok else math.nan,
        lx + 10.0,
        ly + 20.0,
        1.0,
        3.5 + (i % 5) / 4,
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="SimTracker")
    ap.add_argument("--rate", type=float, default=1200.0)
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--channels", type=int, default=len(LABELS))
    ap.add_argument("--die-after", type=int, default=-1)
    ap.add_argument("--linger", type=float, default=2.0, help="seconds to keep the outlet after the last sample")
    ap.add_argument("--now-stamps", action="store_true", help="stamp each chunk at push time (latency benchmark)")
    a = ap.parse_args()
    import pylsl

    info = pylsl.StreamInfo(a.name, "Gaze", a.channels, a.rate, pylsl.cf_double64, f"{a.name}-sim")
    chans = info.desc().append_child("channels")
    for k in range(a.channels):
        ch = chans.append_child("channel")
        ch.append_child_value("label", LABELS[k] if k < len(LABELS) else f"extra{k}")
        ch.append_child_value("unit", UNITS[k] if k < len(UNITS) else "")
    outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)
    if not outlet.wait_for_consumers(30.0):
        sys.exit("no consumer came")
    time.sleep(0.2)
    t0 = pylsl.local_clock()
    print(f"T0 {t0!r}", flush=True)
    per_chunk = max(1, int(round(a.rate / 100)))
    i = 0
    while i < a.n:
        due = t0 + i / a.rate
        delay = due - pylsl.local_clock()
        if delay > 0:
            time.sleep(delay)
        k = min(per_chunk, a.n - i)
        if a.die_after >= 0 and i + k > a.die_after:
            k = a.die_after - i
        rows = [values(i + j)[: a.channels] + [0.0] * max(0, a.channels - len(LABELS)) for j in range(k)]
        if a.now_stamps:
            now = pylsl.local_clock()
            stamps = [now] * k
        else:
            stamps = [t0 + (i + j) / a.rate for j in range(k)]
        for row, ts in zip(rows, stamps, strict=True):
            outlet.push_sample(row, ts)
        i += k
        if a.die_after >= 0 and i >= a.die_after:
            time.sleep(0.3)  # let liblsl send what was pushed, then vanish without closing anything
            sys.stdout.flush()
            os._exit(0)
    print("DONE", flush=True)
    time.sleep(a.linger)


if __name__ == "__main__":
    main()
