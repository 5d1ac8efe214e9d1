"""Domain types: report sections, scanpath arrays, display windows."""

import numpy as np

from ml.types import CHEXPERT_OBSERVATIONS, Image, Report, Scanpath, ScanpathSource, Window


def test_report_round_trips_through_text():
    r = Report(findings="Heart size is normal. No effusion.", impression="No acute disease.")
    assert Report.parse(r.text) == r
    assert Report.parse("findings: a\nimpression: b") == Report("a", "b")
    assert Report.parse("Just text.") == Report(findings="Just text.")


def test_scanpath_array_round_trip():
    xyd = np.array([[10, 20, 0.3], [30, 40, 0.25]])
    sp = Scanpath.from_array(xyd, (100, 80))
    assert sp.source is ScanpathSource.PREDICTED
    assert np.allclose(sp.as_array(), xyd)
    assert sp.fixations[1].start == 0.3


def test_display_applies_window_then_monochrome1_inversion():
    img = Image(pixels=np.array([[0, 100], [200, 300]], dtype=np.uint16), windows=[Window(150, 200)])
    assert img.display().tolist() == [[0, 64], [191, 255]]
    img.invert = True
    assert img.display().tolist() == [[255, 191], [64, 0]]


def test_fourteen_chexpert_observations():
    assert len(CHEXPERT_OBSERVATIONS) == 14 and len(set(CHEXPERT_OBSERVATIONS)) == 14
