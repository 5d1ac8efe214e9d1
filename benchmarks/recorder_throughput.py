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
* ``paced_with_qt_viewer``: the same with the application's real viewer (``app.viewer.ImageView``,
  pyqtgraph, offscreen Qt) repainting a 2048x2048 16-bit image at 60 fps on the main thread while
  window/level and zoom change every frame and each change is logged as a viewport event;
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
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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


def produce(rec: Recorder, rate: float | None, seconds: float, out: dict) -> None:
    """The tracker: paced at ``rate`` (stamped with the monotonic clock), or as fast as possible."""
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
    out["pushed"] = pushed
    out["produce_s"] = time.perf_counter() - t_start


def make_qt_viewer():
    """The real viewer (app.viewer.ImageView, offscreen) showing a 2048x2048 16-bit image."""
    from PySide6 import QtWidgets

    from app.viewer.image_view import ImageView
    from ml.types import Image, Window

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    view = ImageView()
    view.resize(1280, 1024)
    view.show()
    rng = np.random.default_rng(0)
    view.set_image(
        Image(rng.integers(0, 4096, (2048, 2048), dtype=np.uint16), bits_stored=12), study_id="bench"
    )
    view.fit()
    app.processEvents()
    for c in (2000.0, 2100.0):  # warm-up: the first paint builds pyqtgraph's caches (seconds)
        view.set_window(Window(c, 2000.0))
        view.graphics.viewport().repaint()
    return app, view


def qt_viewer_loop(app, view, rec: Recorder, producer: threading.Thread, frames: list[int]) -> None:
    """Repaint at 60 fps while window/level and zoom change every frame (a reader dragging), each
    change logged to the recorder as a viewport event, until the producer is done."""
    from PySide6 import QtCore

    from ml.types import Window

    loop = QtCore.QEventLoop()

    def frame() -> None:
        if not producer.is_alive():
            loop.quit()
            return
        k = frames[0]
        view.set_window(Window(2048 + 400 * np.sin(k / 20), 2000 + 300 * np.cos(k / 30)))
        view.zoom_by(1.01 if (k // 30) % 2 == 0 else 1 / 1.01)
        rec.log_event("viewport", {"frame": k, "zoom": view.zoom()})
        view.graphics.viewport().repaint()  # paint now (offscreen raster), as a visible window would
        frames[0] += 1

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.timeout.connect(frame)
    timer.start(16)
    loop.exec()
    timer.stop()
    view.close()
    app.processEvents()


def run(db: Path, rate: float | None, seconds: float, load: str, flush: float) -> dict:
    latencies: list[np.ndarray] = []

    def on_batch(batch):  # runs in the writer thread right after the commit
        now = now_us()
        latencies.append(now - np.fromiter((s.t_us for s in batch), dtype=np.int64, count=len(batch)))

    viewer = make_qt_viewer() if load == "qt" else None  # built before the clock starts
    rec = Recorder(
        db, study="bench", reader="bench", flush_interval=flush, max_queue=1 << 22, on_batch=on_batch
    )
    sid = rec.start()
    stop = threading.Event()
    frames = [0]
    out: dict = {}
    t_start = time.perf_counter()
    producer = threading.Thread(target=produce, args=(rec, rate, seconds, out), name="tracker")
    producer.start()
    if load == "numpy":
        gui = threading.Thread(target=gui_load, args=(stop, frames), daemon=True)
        gui.start()
        producer.join()
        stop.set()
        gui.join()
    elif load == "qt":
        qt_viewer_loop(*viewer, rec, producer, frames)
        producer.join()
    else:
        producer.join()
    status = rec.stop()
    total_s = time.perf_counter() - t_start
    pushed, produce_s = out["pushed"], out["produce_s"]
    with Store(db, read_only=True) as store:
        stored = store.sample_count(sid)
        events = len(store.events(sid))
    lat = np.concatenate(latencies) / 1e3 if latencies else np.zeros(1)
    return {
        "offered_rate_hz": round(pushed / produce_s, 1),
        "pushed": pushed,
        "stored": stored,
        "dropped": status.dropped,
        "lost_uncounted": pushed - stored - status.dropped,
        "stored_rate_hz": round(stored / total_s, 1),
        "flushes": status.flushes,
        "viewport_events_stored": events,
        "latency_ms": {
            "mean": round(float(lat.mean()), 2),
            "p50": round(float(np.percentile(lat, 50)), 2),
            "p99": round(float(np.percentile(lat, 99)), 2),
            "max": round(float(lat.max()), 2),
        },
        "gui_frames_per_s": round(frames[0] / produce_s, 1) if load != "none" else None,
        "state": status.state,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=12000.0, help="paced rate, samples/s (default 12000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each paced run")
    ap.add_argument("--max-seconds", type=float, default=3.0, help="duration of the unpaced run")
    ap.add_argument("--flush", type=float, default=0.1, help="flush interval, s (default 0.1)")
    ap.add_argument("--no-qt", action="store_true", help="skip the run with the real (offscreen) Qt viewer")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "paced": run(Path(tmp) / "a.db", args.rate, args.seconds, "none", args.flush),
            "paced_with_gui_load": run(Path(tmp) / "b.db", args.rate, args.seconds, "numpy", args.flush),
            "max": run(Path(tmp) / "c.db", None, args.max_seconds, "none", args.flush),
        }
        if not args.no_qt:
            runs["paced_with_qt_viewer"] = run(Path(tmp) / "d.db", args.rate, args.seconds, "qt", args.flush)
    target = args.rate
    out = {
        "benchmark": "recorder_throughput",
        "target_rate_hz": target,
        "flush_interval_s": args.flush,
        "runs": runs,
        "ratios": {
            "offered_vs_target_with_qt_viewer": round(
                runs["paced_with_qt_viewer"]["offered_rate_hz"] / target, 3
            )
            if "paced_with_qt_viewer" in runs
            else None,
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
            for k, r in runs.items()
            if k != "max"
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # other processes sharing the cores
        },
        "note": "stored_rate_hz = stored / (production + final drain) time; in 'max' the producer "
        "competes with the writer for the GIL, so its latency is not representative of live use",
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
