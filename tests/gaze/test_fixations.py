"""I-VT / I-DT on synthetic samples with known fixations and blinks; online == offline; pymovements agreement."""

import math

import numpy as np
import pytest

from ml.gaze.fixations import (
    FixationError,
    IDTParams,
    IVTParams,
    OnlineIVT,
    detect_idt,
    detect_ivt,
    to_scanpath_fixations,
)
from ml.gaze.geometry import ScreenGeometry, Viewport, screen_to_image

HZ = 250  # 4 ms samples: integer milliseconds, as pymovements' I-DT requires
DT = 1.0 / HZ


def synth(targets, durations, saccade_s=0.04, noise=0.03, blinks=(), seed=0):
    """Fixations at ``targets`` (deg) for ``durations`` (s), linear saccades between, NaN blinks.

    Returns t (s), x, y (deg) and the true (start, end) sample index of each fixation.
    """
    rng = np.random.default_rng(seed)
    xs, ys, truth = [], [], []
    for k, ((tx, ty), d) in enumerate(zip(targets, durations, strict=True)):
        if k:
            px, py = targets[k - 1]
            m = round(saccade_s * HZ)
            f = np.arange(1, m + 1) / (m + 1)
            xs.extend(px + f * (tx - px))
            ys.extend(py + f * (ty - py))
        n = round(d * HZ)
        truth.append((len(xs), len(xs) + n - 1))
        xs.extend(tx + rng.normal(0, noise, n))
        ys.extend(ty + rng.normal(0, noise, n))
    x, y = np.array(xs), np.array(ys)
    for a, b in blinks:  # sample index ranges
        x[a:b] = np.nan
        y[a:b] = np.nan
    t = np.arange(len(x)) * DT
    return t, x, y, truth


TARGETS = [(0, 0), (8, 2), (8.3, 2.1), (-5, -4), (3, 6), (-7, 5)]
DURS = [0.3, 0.25, 0.2, 0.4, 0.32, 0.28]


def test_ivt_finds_known_fixations_through_a_short_blink():
    t, x, y, truth = synth(TARGETS, DURS)
    a, b = truth[3]
    mid = (a + b) // 2
    x[mid : mid + 12] = np.nan  # a 48 ms blink inside the 4th fixation: bridged (max_gap 75 ms)
    y[mid : mid + 12] = np.nan
    fx = detect_ivt(t, x, y)
    # (8,2) -> (8.3,2.1) is a 0.32 deg drift at 8 deg/s, not a saccade: one fixation; 6 targets -> 5.
    assert len(fx) == 5
    expected = [TARGETS[0], None, TARGETS[3], TARGETS[4], TARGETS[5]]
    for f, e in zip(fx, expected, strict=True):
        if e is not None:
            assert math.hypot(f.x_deg - e[0], f.y_deg - e[1]) < 0.03
    merged = fx[1]
    assert merged.first <= truth[1][0] + 1 and merged.last >= truth[2][1] - 1
    assert fx[2].first <= a + 1 and fx[2].last >= b - 1  # not split by the blink
    for f, (s, e) in zip([fx[0], *fx[2:]], [truth[0], *truth[3:]], strict=True):
        assert abs(f.start - t[s]) <= 2 * DT and abs(f.end - t[e]) <= 2 * DT
    # A blink longer than max_gap (120 ms) splits a fixation in two.
    t2, x2, y2, _ = synth(TARGETS, DURS, noise=0.01, blinks=[(a + 30, a + 60)])
    fx2 = detect_ivt(t2, x2, y2)
    assert len(fx2) == 6
    assert fx2[2].last == a + 29 and fx2[3].first == a + 60


def test_merge_joins_fixation_split_by_a_spike():
    t, x, y, _ = synth([(0, 0), (6, 0)], [0.4, 0.3], noise=0.005)
    x[50] += 0.6  # one outlier sample inside the first fixation: two velocity spikes
    raw = detect_ivt(t, x, y, IVTParams(merge_max_gap=0))
    merged = detect_ivt(t, x, y)
    assert len(raw) == 3 and len(merged) == 2
    assert merged[0].first == raw[0].first and merged[0].last == raw[1].last
    assert merged[0].n == raw[0].n + raw[1].n
    far = detect_ivt(t, x, y, IVTParams(merge_max_angle=1e-4))
    assert len(far) == 3


def test_min_duration_drops_short_fixations():
    t, x, y, _ = synth([(0, 0), (10, 0), (0, 5)], [0.3, 0.04, 0.3])
    assert len(detect_ivt(t, x, y)) == 2
    assert len(detect_ivt(t, x, y, IVTParams(min_duration=0.02))) == 3


def test_idt_finds_known_fixations():
    targets, durs = TARGETS[:2] + TARGETS[3:], DURS[:2] + DURS[3:]
    t, x, y, truth = synth(targets, durs)
    fx = detect_idt(t, x, y)
    assert len(fx) == 5
    for f, (tx, ty), (s, e) in zip(fx, targets, truth, strict=True):
        assert math.hypot(f.x_deg - tx, f.y_deg - ty) < 0.05
        assert abs(f.start - t[s]) <= 2 * DT and abs(f.end - t[e]) <= 2 * DT
    # The two targets 0.32 deg apart fall in one 1-deg window; a tight threshold separates them.
    t, x, y, _ = synth(TARGETS, DURS, noise=0.005)
    assert len(detect_idt(t, x, y)) == 5
    assert len(detect_idt(t, x, y, IDTParams(dispersion_threshold=0.2, merge_max_gap=0))) == 6


@pytest.mark.parametrize(
    "params",
    [
        IVTParams(),
        IVTParams(merge_max_gap=0),
        IVTParams(max_gap=0, min_duration=0.1),
        IVTParams(velocity_threshold=60),
    ],
)
def test_online_ivt_equals_offline(params):
    rng = np.random.default_rng(3)
    targets = [tuple(rng.uniform(-10, 10, 2)) for _ in range(25)]
    targets[5] = (targets[4][0] + 0.2, targets[4][1])  # a merge candidate
    durs = list(rng.uniform(0.03, 0.5, 25))
    t, x, y, truth = synth(targets, durs, noise=0.03, seed=4)
    for s in rng.integers(0, len(t) - 40, 8):  # blinks of 8..160 ms
        L = int(rng.integers(2, 40))
        x[s : s + L] = np.nan
        y[s : s + L] = np.nan
    px, py, pupil = x * 10 + 500, y * 10 + 400, rng.uniform(2, 4, len(t))
    offline = detect_ivt(t, x, y, params, x=px, y=py, pupil=pupil)
    online, emitted_at = [], []
    det = OnlineIVT(params)
    for i in range(len(t)):
        got = det.push(t[i], x[i], y[i], px[i], py[i], pupil[i])
        online.extend(got)
        emitted_at.extend([t[i]] * len(got))
    assert det.tentative() is not None
    online.extend(det.flush())
    assert det.tentative() is None
    assert len(offline) > 10
    assert online == offline
    # Emitted while recording, never before the fixation ended; without merging, at most max_gap
    # later (with merging it waits until the next candidate's centroid is known).
    assert len(emitted_at) >= len(online) - 1
    for f, when in zip(online, emitted_at, strict=False):
        assert when > f.end
        if params.merge_max_gap == 0:
            assert when <= f.end + params.max_gap + 2 * DT


def test_agrees_with_pymovements_ivt():
    """Tolerance: same fixations; onsets/offsets within one sample (4 ms).

    pymovements gives the first sample after a blink no velocity (NaN) while we start a fixation
    there, so our onset after a blink may be one sample earlier. Gap bridging and merging are
    switched off: pymovements' I-VT does neither.
    """
    from pymovements.events.detection import ivt
    from pymovements.transforms.numpy import pos2vel

    t, x, y, truth = synth(TARGETS, DURS, blinks=[(truth_a := 120, 150), (300, 310)], seed=7)
    pos = np.c_[x, y]
    vel = pos2vel(pos, sampling_rate=HZ, method="preceding")
    ms = np.round(t * 1000).astype(int)
    ref = ivt(vel, timesteps=ms, minimum_duration=100, velocity_threshold=30.0).frame
    ours = detect_ivt(t, x, y, IVTParams(max_gap=0, merge_max_gap=0, min_duration=0.1))
    ron, roff = ref["onset"].to_numpy(), ref["offset"].to_numpy()
    assert len(ours) == len(ron) >= 6
    np.testing.assert_allclose([f.start * 1000 for f in ours], ron, atol=1000 * DT + 1e-6)
    np.testing.assert_allclose([f.end * 1000 for f in ours], roff, atol=1e-6)
    assert truth_a == 120


def test_agrees_with_pymovements_idt():
    """Tolerance: same fixations; onsets within one sample, offsets within one sample.

    pymovements' I-DT keeps the sample that broke the dispersion threshold in the fixation and
    sizes its minimum window as N samples (N-1 intervals); Salvucci's description and ours keep
    it out and require the window to span the minimum duration.
    """
    from pymovements.events.detection import idt

    t, x, y, _ = synth(TARGETS, DURS, seed=11)
    ms = np.round(t * 1000).astype(int)
    ref = idt(np.c_[x, y], timesteps=ms, minimum_duration=100, dispersion_threshold=1.0).frame
    ours = detect_idt(t, x, y, IDTParams(max_gap=0, merge_max_gap=0))
    ron, roff = ref["onset"].to_numpy(), ref["offset"].to_numpy()
    assert len(ours) == len(ron) == 5
    np.testing.assert_allclose([f.start * 1000 for f in ours], ron, atol=1000 * DT + 1e-6)
    np.testing.assert_allclose([f.end * 1000 for f in ours], roff, atol=1000 * DT + 1e-6)


def test_screen_samples_to_image_fixations_through_zoom():
    """Screen px -> deg for detection, viewport -> image px for the reported position."""
    geo = ScreenGeometry(1920, 1080, 531.4, 298.9, 650.0)
    view = (0, 0, 1920, 1080)
    vp1 = Viewport.fit(0, "img", (2000, 2000), view)
    truth_img = [(600.0, 800.0), (400.0, 1500.0)]
    # The reader holds gaze on image point 1, then zooms in 2x at 0.1 s while *keeping* gaze on the
    # same image point (screen position moves), then looks at point 2.
    t_us = np.arange(0, 700_000, 4_000)
    vp2 = Viewport.fit(100_000, "img", (2000, 2000), view, zoom=2.0)
    sx = np.empty(len(t_us))
    sy = np.empty(len(t_us))
    for i, tu in enumerate(t_us):
        vp = vp1 if tu < 100_000 else vp2
        target = truth_img[0] if tu < 350_000 else truth_img[1]
        sx[i], sy[i] = (float(v) for v in vp.to_screen(*target))
    mapped = screen_to_image((t_us, sx, sy), [vp1, vp2])
    xd, yd = geo.px_to_deg(sx, sy)
    fx = detect_ivt(t_us / 1e6, xd, yd, x=mapped.x, y=mapped.y)
    # The zoom moves the gaze on screen (a jump), so point 1 is seen as two fixations; both map to it.
    sp = to_scanpath_fixations(fx)
    assert len(sp) == 3
    for f, (tx, ty) in zip(sp, [truth_img[0], truth_img[0], truth_img[1]], strict=True):
        assert (f.x, f.y) == pytest.approx((tx, ty))


def test_bad_input():
    with pytest.raises(FixationError):
        detect_ivt([0, 0.1, 0.05], [0, 0, 0], [0, 0, 0])
    with pytest.raises(FixationError):
        IVTParams(velocity_threshold=0)
    assert detect_ivt([0.0, 0.1], [np.nan, np.nan], [np.nan, np.nan]) == []
    det = OnlineIVT()
    det.push(1.0, 0, 0)
    with pytest.raises(FixationError):
        det.push(1.0, 0, 0)


def test_fixations_from_session_samples_and_from_reflacx_gaze(tmp_path):
    from ml.gaze.fixations import fixations_from_gaze_track, fixations_from_samples
    from ml.gaze.io import DisplayState, GazeTrack, read_gaze, write_gaze
    from ml.types import GazeSample

    geo = ScreenGeometry(1920, 1080, 531.4, 298.9, 650.0)
    vp = Viewport.fit(0, "img", (2000, 2000), (0, 0, 1920, 1080))
    t, xd, yd, truth = synth([(0, 0), (6, 3), (-4, -2)], [0.3, 0.3, 0.3], noise=0.01)
    sx, sy = geo.deg_to_px(xd, yd)
    samples = [
        GazeSample(
            int(round(ti * 1e6)) + 5_000_000, float(a), float(b), valid=bool(np.isfinite(a)), pupil_mm=3.0
        )
        for ti, a, b in zip(t, sx, sy, strict=True)
    ]
    fx = fixations_from_samples(samples, [vp], geo)
    assert len(fx) == 3 and fx[0].start == 0.0 and fx[0].pupil == pytest.approx(3.0)
    ix, iy = vp.to_image(*geo.deg_to_px(6.0, 3.0))
    assert (fx[1].x, fx[1].y) == pytest.approx((float(ix), float(iy)), abs=1.0)
    assert fixations_from_samples(samples, [vp], geo, image_id="other") == []
    # Same samples as a REFLACX gaze.csv in image pixels with 40 px/deg.
    track = GazeTrack(t=t, x=xd * 40 + 1000, y=yd * 40 + 1000, pupil=np.ones(len(t)))
    p = write_gaze(tmp_path / "gaze.csv", track, display=DisplayState(pixels_per_degree=(40.0, 40.0)))
    fr = fixations_from_gaze_track(read_gaze(p))
    assert [(round(f.x), round(f.y)) for f in fr] == [(1000, 1000), (1240, 1120), (840, 920)]
    with pytest.raises(FixationError, match="angular resolution"):
        fixations_from_gaze_track(track)
