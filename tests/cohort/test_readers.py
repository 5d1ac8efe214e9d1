"""Simulated readers on a synthetic chest layout (ellipse lungs and heart; no CT needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.cohort.readers import READERS, SAMPLE_RATE_HZ, Display, anatomical_regions, read_case

W = H = 400


def _ellipse(cx, cy, rx, ry):
    yy, xx = np.mgrid[0:H, 0:W]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def _anatomy():
    right = _ellipse(130, 190, 70, 130)
    left = _ellipse(270, 190, 70, 130)
    heart = _ellipse(215, 260, 70, 50)
    lobes = {"RUL": right & (np.arange(H)[:, None] < 170), "RML": right & False, "RLL": right & (np.arange(H)[:, None] >= 170),
             "LUL": left & (np.arange(H)[:, None] < 190), "LLL": left & (np.arange(H)[:, None] >= 190)}  # fmt: skip
    return {
        **lobes,
        "heart": heart,
        "lung_right": right,
        "lung_left": left,
        "abdomen": np.zeros((H, W), bool),
    }


def _finding(cx, cy, r, subtle):
    return (_ellipse(cx, cy, r, r), (float(cx), float(cy)), subtle)


@pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])
def test_reading_is_well_formed(reader):
    anatomy = _anatomy()
    reading = read_case(np.random.default_rng(1), reader, anatomy, [_finding(110, 110, 12, False)], (W, H))
    fx = reading.fixations
    assert len(fx) >= 15
    for a, b in zip(fx, fx[1:], strict=False):
        assert a.start < a.end <= b.start
    for f in fx:
        assert 0 <= f.x < W and 0 <= f.y < H
        assert 0.05 <= f.duration <= 2.6
    dt = np.diff(reading.t)
    np.testing.assert_allclose(dt, 1.0 / SAMPLE_RATE_HZ)
    valid = np.isfinite(reading.x)
    assert np.all(
        (reading.x[valid] >= 0) & (reading.x[valid] < W) & (reading.y[valid] >= 0) & (reading.y[valid] < H)
    )
    sp = reading.scanpath()
    assert sp.image_size == (W, H) and sp.reader == reader.name


def test_blinks_are_gaps_of_100_to_300_ms():
    reading = read_case(np.random.default_rng(2), READERS[2], _anatomy(), [], (W, H))
    invalid = ~np.isfinite(reading.x)
    assert invalid.any() and np.isnan(reading.pupil[invalid]).all()
    edges = np.diff(np.r_[0, invalid.astype(int), 0])
    lengths = (np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]) / SAMPLE_RATE_HZ
    assert np.all((lengths >= 0.09) & (lengths <= 0.31)), lengths


def test_saccades_follow_the_main_sequence():
    reading = read_case(np.random.default_rng(3), READERS[0], _anatomy(), [], (W, H))
    ppd = reading.ppd
    x, y, t = reading.x / ppd, reading.y / ppd, reading.t
    v = np.hypot(np.diff(x), np.diff(y)) / np.diff(t)
    fast = np.nan_to_num(v) > 40.0
    edges = np.diff(np.r_[0, fast.astype(int), 0])
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    amps, peaks = [], []
    for a, b in zip(starts, ends, strict=True):
        if b - a >= 2 and np.isfinite(x[a : b + 1]).all():
            amps.append(np.hypot(x[b] - x[a], y[b] - y[a]))
            peaks.append(v[a:b].max())
    amps, peaks = np.array(amps), np.array(peaks)
    assert len(amps) >= 10
    assert np.corrcoef(amps, peaks)[0, 1] > 0.6  # bigger saccades are faster
    assert peaks.max() < 900.0  # and saturate (no teleporting)


def _dwell(fixations, mask) -> float:
    return sum(f.duration for f in fixations if mask[int(f.y), int(f.x)])


def test_detected_finding_gets_dwell_and_missed_subtle_one_does_not():
    anatomy = _anatomy()
    obvious = _finding(300, 120, 14, False)
    subtle = _finding(120, 260, 8, True)
    dwell_obvious, dwell_subtle_missed, missed_any = [], [], False
    for seed in range(12):
        r = read_case(np.random.default_rng(seed), READERS[1], anatomy, [obvious, subtle], (W, H))
        assert 0 in r.detected  # obvious findings are always seen
        dwell_obvious.append(_dwell(r.fixations, obvious[0]))
        if 1 not in r.detected:
            missed_any = True
            dwell_subtle_missed.append(_dwell(r.fixations, subtle[0]))
    assert missed_any  # the fast free reader misses subtle findings sometimes
    assert np.mean(dwell_obvious) > 0.8
    assert np.mean(dwell_subtle_missed) < np.mean(dwell_obvious) / 2


def test_fixation_detection_recovers_the_simulated_fixations():
    """ml.gaze's I-VT on the raw samples finds about as many fixations as were simulated."""
    from ml.gaze.fixations import fixations_from_gaze_track
    from ml.gaze.io import GazeTrack

    r = read_case(np.random.default_rng(4), READERS[0], _anatomy(), [], (W, H))
    track = GazeTrack(t=r.t, x=r.x, y=r.y, pupil=r.pupil)
    track.columns["angular_resolution_x_pixels_per_degree"] = np.full(len(r.t), r.ppd)
    track.columns["angular_resolution_y_pixels_per_degree"] = np.full(len(r.t), r.ppd)
    detected = fixations_from_gaze_track(track)
    assert abs(len(detected) - len(r.fixations)) <= 0.25 * len(r.fixations)


def test_systematic_search_covers_both_lungs_top_down():
    anatomy = _anatomy()
    regions = anatomical_regions(anatomy)
    assert {"right upper zone", "left lower zone", "heart", "right costophrenic angle"} <= set(regions)
    r = read_case(np.random.default_rng(5), READERS[0], anatomy, [], (W, H))
    right = [f.y for f in r.fixations if anatomy["lung_right"][int(f.y), int(f.x)]]
    assert len(right) >= 4
    first_half = right[: len(right) // 2]
    assert np.mean(first_half) < np.mean(right[len(right) // 2 :])  # upper zones before lower ones


def test_display_pixels_per_degree_scale_with_image_size():
    d = Display()
    assert d.image_ppd((2048, 2048)) == pytest.approx(2 * d.image_ppd((1024, 1024)))
