"""REFLACX gaze/fixation files: exact columns, round trips, EGD-CXR and plain CSVs, clear errors."""

import csv
import math

import numpy as np
import pytest

from ml.gaze.io import (
    REFLACX_FIXATION_COLUMNS,
    REFLACX_GAZE_COLUMNS,
    DisplayState,
    GazeFileError,
    GazeTrack,
    read_fixations,
    read_gaze,
    read_scanpath,
    write_fixations,
    write_gaze,
)
from ml.types import Fixation, Scanpath

# The first rows of a REFLACX fixations.csv as published (column order and value style).
REFLACX_SAMPLE = """timestamp_start_fixation,timestamp_end_fixation,x_position,y_position,pupil_area_normalized,angular_resolution_x_pixels_per_degree,angular_resolution_y_pixels_per_degree,window_width,window_level,xmin_shown_from_image,ymin_shown_from_image,xmax_shown_from_image,ymax_shown_from_image,xmin_in_screen_coordinates,ymin_in_screen_coordinates,xmax_in_screen_coordinates,ymax_in_screen_coordinates
7.08,7.293,405.0,420.0,1.131,94.0,94.0,0.99829,0.49841,0.0,303.0,2521.0,2463.0,661.0,0.0,3180.0,2160.0
7.31,7.6,1200.5,980.25,1.2,94.0,94.0,0.99829,0.49841,0.0,303.0,2521.0,2463.0,661.0,0.0,3180.0,2160.0
"""


def test_reads_reflacx_fixations(tmp_path):
    p = tmp_path / "fixations.csv"
    p.write_text(REFLACX_SAMPLE)
    fx = read_fixations(p)
    assert len(fx) == 2
    assert fx[0] == Fixation(405.0, 420.0, 7.08, 7.293, 1.131)
    assert fx[1].x == 1200.5 and fx[1].y == 980.25
    assert fx[1].duration == pytest.approx(0.29)


def test_write_uses_reflacx_columns_and_round_trips(tmp_path):
    fx = [Fixation(10.5, 20.25, 0.0, 0.2, 1.0), Fixation(100.0, 50.0, 0.25, 0.6)]
    p = write_fixations(
        tmp_path / "out" / "fixations.csv",
        fx,
        {"window_level": 0.5, "reader": ["a", "b"]},
        display=DisplayState(pixels_per_degree=(40.0, 41.0), window_width=1.0, shown=(0, 0, 800, 600)),
    )
    with p.open() as fh:
        rows = list(csv.DictReader(fh))
        header = rows[0].keys()
    assert list(header) == [*REFLACX_FIXATION_COLUMNS, "reader"]
    assert rows[0]["window_level"] == "0.5"
    assert rows[1]["reader"] == "b"
    assert float(rows[0]["angular_resolution_y_pixels_per_degree"]) == 41.0
    assert float(rows[0]["xmax_shown_from_image"]) == 800.0
    assert rows[0]["xmin_in_screen_coordinates"] == ""  # unknown -> empty (NaN)
    back = read_fixations(p)
    assert [(f.x, f.y, f.start, f.end) for f in back] == [(f.x, f.y, f.start, f.end) for f in fx]
    assert back[0].pupil == 1.0 and math.isnan(back[1].pupil)


def test_scanpath_write_fills_shown_rect_from_image_size(tmp_path):
    sp = Scanpath([Fixation(1, 2, 0, 0.1)], (640, 480))
    p = write_fixations(tmp_path / "f.csv", sp)
    row = next(csv.DictReader(p.open()))
    assert (row["xmax_shown_from_image"], row["ymax_shown_from_image"]) == ("640.0", "480.0")
    back = read_scanpath(p, (640, 480), reader="r1")
    assert back.image_size == (640, 480) and back.reader == "r1" and len(back) == 1


def test_gaze_round_trip_with_invalid_samples(tmp_path):
    t = np.arange(5) / 60.0
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.5])
    y = np.array([1.0, np.nan, np.nan, 4.0, 6.25])
    g = GazeTrack(t=t, x=x, y=y, pupil=np.ones(5))
    p = write_gaze(tmp_path / "gaze.csv", g, image_size=(100, 80))
    header = next(csv.reader(p.open()))
    assert header == list(REFLACX_GAZE_COLUMNS)
    back = read_gaze(p)
    np.testing.assert_allclose(back.t, t, atol=1e-6)
    np.testing.assert_array_equal(back.valid, [True, False, False, True, True])
    np.testing.assert_allclose(back.x[back.valid], x[g.valid])
    assert back.columns["xmax_shown_from_image"][0] == 100.0
    # Re-writing keeps the per-sample display columns that came from the file.
    p2 = write_gaze(tmp_path / "gaze2.csv", back)
    assert read_gaze(p2).columns["ymax_shown_from_image"][3] == 80.0


def test_egd_cxr_fixations_keep_last_row_per_fixation(tmp_path):
    p = tmp_path / "fixations.csv"
    p.write_text(
        "DICOM_ID,CNT,TIME(in secs),FPOGX,FPOGY,FPOGS,FPOGD,FPOGID,FPOGV,X_ORIGINAL,Y_ORIGINAL\n"
        "img1,0,0.10,0.5,0.5,0.10,0.05,1,1,1000,900\n"
        "img1,1,0.20,0.5,0.5,0.10,0.15,1,1,1002,902\n"
        "img1,2,0.40,0.2,0.2,0.30,0.10,2,1,400,300\n"
        "img2,0,0.10,0.2,0.2,0.10,0.10,1,1,7,7\n"
    )
    with pytest.raises(GazeFileError, match="dicom_id"):
        read_fixations(p)
    fx = read_fixations(p, dicom_id="img1")
    assert [(f.x, f.y) for f in fx] == [(1002, 902), (400, 300)]
    assert fx[0].start == pytest.approx(0.10) and fx[0].end == pytest.approx(0.25)


def test_plain_xy_duration_csv(tmp_path):
    p = tmp_path / "pred.csv"
    p.write_text("x,y,duration\n1,2,0.2\n3,4,0.3\n")
    fx = read_fixations(p)
    assert [(f.start, f.end) for f in fx] == [(0.0, 0.2), pytest.approx((0.2, 0.5))]


@pytest.mark.parametrize(
    "text,match",
    [
        ("a,b\n1,2\n", "not a fixation file"),
        ("", "empty"),
        ("timestamp_start_fixation,timestamp_end_fixation,x_position\n0,1,2\n", "y_position"),
        ("timestamp_start_fixation,timestamp_end_fixation,x_position,y_position\n1,0.5,2,3\n", "ends before"),
    ],
)
def test_bad_files_raise_typed_errors(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(GazeFileError, match=match):
        read_fixations(p)


def test_missing_file():
    with pytest.raises(GazeFileError, match="no such file"):
        read_fixations("/nonexistent/fixations.csv")
