"""Replay through the real recording path reproduces samples exactly; export/import round trip.

Done-when (issue 4): a replayed cohort reader recorded through the real pipeline at 1,200 Hz for
60 s reproduces its samples exactly (count and values) after a clean stop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.cli.session import export_session, import_session
from ml.gaze.geometry import ScreenGeometry, screen_to_image
from ml.gaze.io import DisplayState, GazeTrack, read_fixations, read_gaze, write_gaze
from ml.gaze.recorder import Recorder, session_viewports
from ml.gaze.sources import ReplaySource, SourceState, load_gaze_csv
from ml.store import Store

GEO = ScreenGeometry(1920, 1080, 531.4, 298.9, 650.0)


def synthetic_reading(seconds: float, hz: float, size=(2048, 2500), seed=0) -> GazeTrack:
    """Fixations (200-400 ms, drift + tremor), fast saccades, blinks: image pixels, seconds."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * hz))
    t = np.round(np.arange(n) / hz, 6)
    x, y = np.empty(n), np.empty(n)
    i, pos = 0, np.array([size[0] / 2, size[1] / 2])
    while i < n:
        k = int(rng.uniform(0.2, 0.4) * hz)
        x[i : i + k] = pos[0] + rng.normal(0, 1.5, min(k, n - i))
        y[i : i + k] = pos[1] + rng.normal(0, 1.5, min(k, n - i))
        i += k
        new = rng.uniform([100, 100], [size[0] - 100, size[1] - 100])
        s = int(0.03 * hz)
        ramp = np.linspace(0, 1, s)[: max(0, min(s, n - i))]
        x[i : i + len(ramp)] = pos[0] + ramp * (new[0] - pos[0])
        y[i : i + len(ramp)] = pos[1] + ramp * (new[1] - pos[1])
        i += len(ramp)
        pos = new
    blink = (t % 4.0) > 3.85  # a 150 ms blink every 4 s
    x[blink] = np.nan
    y[blink] = np.nan
    x, y = np.round(x, 4), np.round(y, 4)
    return GazeTrack(t=t, x=x, y=y, pupil=np.where(blink, np.nan, 0.5))


def record_replay(db, data, speed=math.inf, flush=0.05):
    src = ReplaySource.from_data(data, speed=speed)
    rec = Recorder(db, study="case-1", reader="R1", geometry=GEO, flush_interval=flush)
    sid = rec.start(src)
    assert src.wait(120) and src.state == SourceState.FINISHED
    status = rec.stop()
    return sid, status


def assert_exact(stored, emitted):
    assert len(stored) == len(emitted)
    a = np.array([(s.t_us, s.x, s.y, s.valid, s.pupil_mm, s.device_t_us) for s in stored], dtype=float)
    b = np.array([(s.t_us, s.x, s.y, s.valid, s.pupil_mm, s.device_t_us) for s in emitted], dtype=float)
    assert np.array_equal(a, b, equal_nan=True)


def check_reproduction(tmp_path, track: GazeTrack, state: DisplayState, size):
    write_gaze(tmp_path / "in" / "gaze.csv", track, display=state)
    data = load_gaze_csv(tmp_path / "in" / "gaze.csv", image_size=size)
    db = tmp_path / "g.db"
    sid, status = record_replay(db, data)
    assert (status.state, status.dropped, status.written) == ("completed", 0, len(track))
    with Store(db) as store:
        stored = store.samples(sid).to_samples()
        vps = session_viewports(store, sid)
        sess = store.session(sid)
    assert_exact(stored, data.samples)  # bit for bit: count, times, positions, validity, pupil
    assert sess.sample_count == len(track) and sess.t0_us == 0 and sess.source == "replay"
    # and mapped back through the logged viewports they are the file's image coordinates
    arrays = (
        np.array([s.t_us for s in stored]),
        np.array([s.x for s in stored]),
        np.array([s.y for s in stored]),
    )
    back = screen_to_image(arrays, vps, clip=False)
    np.testing.assert_allclose(back.x, track.x, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(back.y, track.y, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(back.t_us, np.rint(track.t * 1e6).astype(np.int64))
    return db, sid


def test_replay_1200hz_reproduces_exactly(tmp_path):
    size = (2048, 2500)
    track = synthetic_reading(6.0, 1200.0, size)
    state = DisplayState(
        pixels_per_degree=(40.0, 40.0), window_width=1.0, window_level=0.5,
        shown=(0.0, 0.0, float(size[0]), float(size[1])), screen=(523.0, 0.0, 1397.0, 1067.0),
    )  # fmt: skip
    check_reproduction(tmp_path, track, state, size)


@pytest.mark.slow
def test_cohort_reader_1200hz_60s_reproduces_exactly(tmp_path, monkeypatch):
    """A cohort reader (ml.cohort.readers) simulated at 1,200 Hz for 60 s, written by the cohort's
    own writer, replayed through the recorder: every sample comes back exactly."""
    readers = pytest.importorskip("ml.cohort.readers")
    from ml.cohort.writer import write_reading

    monkeypatch.setattr(readers, "SAMPLE_RATE_HZ", 1200.0)
    size = (1024, 1024)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w]
    anatomy = {
        "lung_right": ((xx - 330) / 170) ** 2 + ((yy - 470) / 330) ** 2 < 1,
        "lung_left": ((xx - 700) / 160) ** 2 + ((yy - 470) / 320) ** 2 < 1,
        "heart": ((xx - 560) / 150) ** 2 + ((yy - 640) / 120) ** 2 < 1,
    }
    rng = np.random.default_rng(7)
    reader = readers.READERS[2]
    display = readers.Display()
    ppd = display.image_ppd(size)
    regions = readers.anatomical_regions(anatomy)
    targets = []
    while sum(t.duration for t in targets) < 62.0:  # search the image until a minute has passed
        more, _ = readers.plan_fixations(rng, reader, regions, [], size)
        targets += more
    t, x, y, pupil, fixations = readers.simulate_samples(rng, reader, targets, ppd, size)
    keep = t < 60.0
    reading = readers.Reading(reader, fixations, t[keep], x[keep], y[keep], pupil[keep], [], ppd, size)
    assert len(reading.t) == 72_000 and np.isnan(reading.x).any()
    write_reading(tmp_path / "main", tmp_path / "in", reading, display, "FINDINGS: none.", [])
    original = read_gaze(tmp_path / "in" / "gaze.csv")
    data = load_gaze_csv(tmp_path / "in" / "gaze.csv")
    db = tmp_path / "g.db"
    sid, status = record_replay(db, data)
    assert (status.state, status.dropped, status.written) == ("completed", 0, 72_000)
    with Store(db) as store:
        stored = store.samples(sid).to_samples()
    assert_exact(stored, data.samples)
    # exported again in REFLACX layout it reads back as the cohort file (6-decimal CSV precision)
    export_session(db, sid, tmp_path / "out")
    again = read_gaze(tmp_path / "out" / "gaze.csv")
    assert len(again) == len(original) == 72_000
    np.testing.assert_array_equal(again.t, original.t)
    np.testing.assert_allclose(again.x, original.x, atol=2e-6, equal_nan=True)
    np.testing.assert_allclose(again.y, original.y, atol=2e-6, equal_nan=True)


def test_real_time_speed_paces_samples(tmp_path):
    track = synthetic_reading(0.5, 200.0)
    write_gaze(tmp_path / "gaze.csv", track, image_size=(2048, 2500))
    src = ReplaySource.from_gaze_csv(tmp_path / "gaze.csv", speed=2.0)
    got = []
    src.start(got.append)
    src.wait(10)
    assert src.state == SourceState.FINISHED and len(got) == 100
    assert [s.t_us for s in got] == [round(v * 1e6) for v in track.t]
    src2 = ReplaySource.from_gaze_csv(tmp_path / "gaze.csv", speed=1.0)
    src2.start(got.append)
    src2.stop()  # stopping mid-way is clean and prompt
    assert src2.state == SourceState.STOPPED and src2.position < 100


def test_export_import_round_trip(tmp_path):
    size = (2048, 2500)
    track = synthetic_reading(4.0, 600.0, size, seed=3)
    state = DisplayState(shown=(0.0, 0.0, 2048.0, 2500.0), screen=(523.0, 0.0, 1397.0, 1067.0), window_level=0.4,
                         window_width=0.8)  # fmt: skip
    write_gaze(tmp_path / "in" / "gaze.csv", track, display=state)
    db = tmp_path / "g.db"
    sid, _ = record_replay(db, load_gaze_csv(tmp_path / "in" / "gaze.csv", image_size=size))
    res = export_session(db, sid, tmp_path / "exp")
    assert res.n_samples == len(track) and res.n_fixations > 5
    g = read_gaze(res.gaze_csv)
    np.testing.assert_array_equal(g.t, track.t)
    np.testing.assert_allclose(g.x, track.x, atol=2e-6, equal_nan=True)
    assert np.allclose(g.columns["window_level"], 0.4) and np.allclose(
        g.columns["xmax_shown_from_image"], 2048
    )
    fix = read_fixations(res.fixations_csv)
    assert all(0 <= f.x <= 2048 and 0 <= f.y <= 2500 and f.duration >= 0.06 for f in fix)
    assert all(b.start >= a.end for a, b in zip(fix, fix[1:], strict=False))
    # import: a new session with exactly the same samples, viewports and the fixations
    sid2 = import_session(db, tmp_path / "exp", study="case-1", reader="R1")
    with Store(db) as store:
        a, b = store.samples(sid).to_samples(), store.samples(sid2).to_samples()
        assert_exact(b, a)
        assert [repr(v) for v in session_viewports(store, sid2)] == [
            repr(v) for v in session_viewports(store, sid)
        ]
        assert len(store.fixations(sid2, "imported")) == len(fix)
        s2 = store.session(sid2)
    assert (s2.status, s2.source, s2.t0_us) == ("completed", "import", 0)
    assert s2.geometry == GEO.to_dict()


def test_import_reflacx_style_file(tmp_path):
    """A plain REFLACX gaze.csv (no screen columns of ours) comes in through its display columns."""
    size = (2048, 2500)
    track = synthetic_reading(1.0, 300.0, size, seed=5)
    zoomed = DisplayState(shown=(512.0, 625.0, 1536.0, 1875.0), screen=(0.0, 0.0, 874.0, 1067.0))
    write_gaze(tmp_path / "gaze.csv", track, display=zoomed)
    db = tmp_path / "g.db"
    sid = import_session(db, tmp_path / "gaze.csv", study="reflacx-1", reader="phys-1", image_size=size)
    with Store(db) as store:
        stored = store.samples(sid).to_samples()
        vps = session_viewports(store, sid)
    assert len(stored) == len(track) and len(vps) == 1
    assert vps[0].view_rect == (0.0, 0.0, 874.0, 1067.0)
    ok = np.isfinite(track.x)
    s = np.array([(p.x, p.y) for p in stored])
    # the shown quarter of the image fills the screen rectangle: screen = (image - 512) * 874/1024
    np.testing.assert_allclose(s[ok, 0], (track.x[ok] - 512) * 874 / 1024, atol=1e-9)
