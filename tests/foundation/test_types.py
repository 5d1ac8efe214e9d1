"""Domain types: report sections, scanpath arrays, display windows, vocabularies."""

import numpy as np
import pytest

from ml.types import CHEXPERT_OBSERVATIONS, AnnotationShape, Image, Report, Scanpath, ScanpathSource, Window


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


def test_a_vocabulary_member_is_its_spelling_in_json_sqlite_and_dict_lookups():
    import json
    import sqlite3

    from ml.contracts import GazeMode

    mode = GazeMode("no_gnn")
    assert mode is GazeMode.NO_GNN and GazeMode(mode) is mode
    assert mode == "no_gnn" and str(mode) == "no_gnn" and f"{mode}" == "no_gnn"
    assert {"no_gnn": 1}[mode] == 1
    assert json.dumps({mode: mode}) == '{"no_gnn": "no_gnn"}'
    assert sqlite3.connect(":memory:").execute("SELECT ?", (mode,)).fetchone() == ("no_gnn",)


def test_an_unknown_spelling_is_refused_with_the_words_the_vocabulary_knows():
    from ml.contracts import GazeMode

    with pytest.raises(ValueError, match=r"Unknown gaze mode 'telepathy' \(one of image_only, real_gaze, predicted"):
        GazeMode("telepathy")
    with pytest.raises(ValueError, match="Unknown annotation shape 'circle'"):
        AnnotationShape("circle")
    assert GazeMode.values() == ("image_only", "real_gaze", "predicted", "no_gnn")
    assert [m.label for m in GazeMode][0] == "Image only (no gaze tokens)"
