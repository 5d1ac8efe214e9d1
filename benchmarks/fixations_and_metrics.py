"""Throughput of fixation detection (online I-VT vs offline) and cost of compare_scanpaths.

Prints one JSON object. The live view runs OnlineIVT on every recorded sample, so it must keep
well ahead of the recording target (>= 12,000 samples/s, 10x a Tobii Pro Spectrum's 1,200 Hz).
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np


def synth_stream(seconds: float, hz: int, seed: int = 0):
    """Fixations (150-500 ms, 0.03 deg noise) joined by 40 ms saccades, with 2 % blink samples."""
    rng = np.random.default_rng(seed)
    n = int(seconds * hz)
    x, y = np.empty(n), np.empty(n)
    i, px, py = 0, 0.0, 0.0
    while i < n:
        tx, ty = rng.uniform(-12, 12, 2)
        m = int(0.04 * hz)
        f = np.arange(1, m + 1) / (m + 1)
        j = min(n, i + m)
        x[i:j], y[i:j] = (px + f * (tx - px))[: j - i], (py + f * (ty - py))[: j - i]
        i = j
        d = int(rng.uniform(0.15, 0.5) * hz)
        j = min(n, i + d)
        x[i:j] = tx + rng.normal(0, 0.03, j - i)
        y[i:j] = ty + rng.normal(0, 0.03, j - i)
        i, px, py = j, tx, ty
    for s in rng.integers(0, n - 200, int(seconds * 0.5)):  # ~ one 100 ms blink every 2 s
        x[s : s + int(0.1 * hz)] = np.nan
        y[s : s + int(0.1 * hz)] = np.nan
    return np.arange(n) / hz, x, y


def main() -> None:
    from ml.gaze.fixations import IDTParams, OnlineIVT, detect_idt, detect_ivt
    from ml.metrics import compare_scanpaths
    from ml.types import Scanpath

    t, x, y = synth_stream(60.0, 1200)
    n = len(t)

    t0 = time.perf_counter()
    offline = detect_ivt(t, x, y)
    offline_s = time.perf_counter() - t0

    det = OnlineIVT()
    online = []
    tl, xl, yl = t.tolist(), x.tolist(), y.tolist()
    t0 = time.perf_counter()
    for i in range(n):
        online.extend(det.push(tl[i], xl[i], yl[i]))
    online.extend(det.flush())
    online_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    idt = detect_idt(t, x, y, IDTParams())
    idt_s = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    size = (3000, 3000)
    pairs = [
        tuple(
            Scanpath.from_array(np.c_[rng.uniform(0, 3000, (30, 2)), rng.uniform(0.1, 0.6, 30)], size)
            for _ in range(2)
        )
        for _ in range(5)
    ]
    compare_scanpaths(*pairs[0], size)  # imports (scipy, multimatch) outside the timing
    t0 = time.perf_counter()
    for a, b in pairs:
        compare_scanpaths(a, b, size)
    compare_s = (time.perf_counter() - t0) / len(pairs)

    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.python_version()}",
                "samples": n,
                "sampling_hz": 1200,
                "fixations_ivt": len(offline),
                "fixations_idt": len(idt),
                "online_equals_offline": online == offline,
                "online_ivt_samples_per_s": round(n / online_s),
                "offline_ivt_samples_per_s": round(n / offline_s),
                "offline_idt_samples_per_s": round(n / idt_s),
                "online_ivt_headroom_vs_12000_per_s": round(n / online_s / 12000, 2),
                "compare_scanpaths_30x30_fixations_3000px_ms": round(compare_s * 1000, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
