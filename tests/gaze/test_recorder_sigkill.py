"""Hard kills and crashes in a real subprocess.

* SIGKILL while recording a 1,200 Hz stream loses at most one flush interval (plus scheduling
  slack on a shared machine), keeps every stored sample in order, and the next start closes the
  session as 'interrupted'.
* An uncaught exception that ends the program without ``stop()`` loses nothing (atexit drains).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ml.gaze.recorder import Recorder
from ml.store import Store

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, time
from ml.gaze.recorder import Recorder
from ml.types import GazeSample
db, flush = sys.argv[1], float(sys.argv[2])
rec = Recorder(db, study="s", reader="r", flush_interval=flush)
sid = rec.start()
period = 833  # 1,200 Hz
t0 = time.monotonic_ns() // 1000
print(sid, t0, flush=True)
i = 0
while True:  # a tracker in real time: samples stamped with the monotonic clock
    due = (time.monotonic_ns() // 1000 - t0) // period
    while i <= due:
        rec.push(GazeSample(t0 + i * period, float(i % 1920), float(i % 1080), True, 3.0, i))
        i += 1
    time.sleep(0.001)
"""

CRASH = r"""
import sys
from ml.gaze.recorder import Recorder
from ml.types import GazeSample
rec = Recorder(sys.argv[1], study="s", reader="r", flush_interval=10.0)
rec.start()
for i in range(5000):
    rec.push(GazeSample(1000 + i, float(i), 2.0, True, 3.0, i))
raise RuntimeError("the viewer crashed")
"""


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_sigkill_loses_at_most_one_flush_interval_and_is_recovered(tmp_path):
    db = tmp_path / "g.db"
    flush = 0.1
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(flush)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    try:
        sid, t0 = (int(v) for v in proc.stdout.readline().split())
        time.sleep(1.5)
        kill_us = time.monotonic_ns() // 1000
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    with Store(db) as store:
        sess = store.session(sid)
        block = store.samples(sid)
    assert sess.status == "recording"  # nobody closed it: the process died
    n = len(block)
    assert n > 1000
    # what was committed is complete and in order: sample i carries i
    np.testing.assert_array_equal(block.device_t_us, np.arange(n))
    np.testing.assert_array_equal(block.t_us, t0 + np.arange(n) * 833)
    generated = (kill_us - t0) // 833 + 1
    lost_s = (kill_us - int(block.t_us[-1])) / 1e6
    print(
        f"SIGKILL: {generated} generated, {n} stored, last {lost_s * 1e3:.1f} ms lost (flush {flush * 1e3:.0f} ms)"
    )
    assert lost_s <= flush + 0.1, f"lost {lost_s:.3f} s with a {flush} s flush interval"

    rec = Recorder(db, study="s", reader="r")
    rec.start()
    rec.stop()
    assert rec.recovered == [sid]
    with Store(db) as store:
        sess = store.session(sid)
    assert (sess.status, sess.sample_count) == ("interrupted", n)
    assert "without a clean stop" in sess.error


def test_uncaught_exception_at_exit_loses_nothing(tmp_path):
    db = tmp_path / "g.db"
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 1 and "the viewer crashed" in proc.stderr
    with Store(db) as store:
        (sess,) = store.sessions()
        block = store.samples(sess.id)
    assert len(block) == 5000 and sess.sample_count == 5000
    np.testing.assert_array_equal(block.device_t_us, np.arange(5000))
    assert sess.status == "interrupted" and "exited without stopping" in sess.error
    # and it is closed, so a later start has nothing to recover
    rec = Recorder(db, study="s", reader="r")
    rec.start()
    rec.stop()
    assert rec.recovered == []
