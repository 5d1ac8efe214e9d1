"""``main.py compare`` end to end: REFLACX files in, JSON/table/PNG out, clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.cli import main as cli_main
from ml.gaze.io import write_fixations
from ml.metrics import COMPARE_KEYS, compare_scanpaths
from ml.types import Scanpath

ROOT = Path(__file__).resolve().parents[2]
SIZE = (640, 512)


def _paths(tmp_path):
    rng = np.random.default_rng(0)
    a = Scanpath.from_array(
        np.c_[rng.uniform(0, 640, 8), rng.uniform(0, 512, 8), rng.uniform(0.1, 0.4, 8)], SIZE
    )
    b = Scanpath.from_array(
        np.c_[rng.uniform(0, 640, 11), rng.uniform(0, 512, 11), rng.uniform(0.1, 0.4, 11)], SIZE
    )
    pa = write_fixations(tmp_path / "a" / "fixations.csv", a)
    pb = write_fixations(tmp_path / "b" / "fixations.csv", b)
    return a, b, pa, pb


def test_compare_json_subprocess_matches_library(tmp_path):
    a, b, pa, pb = _paths(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "compare",
            str(pa),
            str(pb),
            "--size",
            "640",
            "512",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert list(res) == list(COMPARE_KEYS)
    assert list(res["multimatch"]) == ["vector", "direction", "length", "position", "duration"]
    # The written files round-trip to 6 decimals; the numbers match the library on the originals.
    ref = compare_scanpaths(a, b, SIZE)
    for k in COMPARE_KEYS:
        if k == "multimatch":
            for d, v in ref[k].items():
                assert res[k][d] == pytest.approx(v, rel=1e-4, abs=1e-6)
        else:
            assert res[k] == pytest.approx(ref[k], rel=1e-4, abs=1e-6)


def test_compare_table_png_and_image_size(tmp_path, capsys):
    from PIL import Image

    _, _, pa, pb = _paths(tmp_path)
    img = tmp_path / "cxr.png"
    Image.fromarray((np.arange(512 * 640) % 251).astype(np.uint8).reshape(512, 640)).save(img)
    png = tmp_path / "out" / "both.png"
    assert cli_main(["compare", str(pa), str(pb), "--image", str(img), "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "image 640x512 px" in text and "multimatch.vector" in text and "auc_judd" in text
    with Image.open(png) as im:
        assert im.size[0] > 100 and im.size[1] > 100


def test_identical_paths_give_perfect_scores(tmp_path, capsys):
    _, _, pa, _ = _paths(tmp_path)
    assert cli_main(["compare", str(pa), str(pa), "--size", "640", "512", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["sed"] == 0 and res["dtw"] == 0 and res["scanmatch"] == pytest.approx(1.0)
    assert res["multimatch"]["position"] == pytest.approx(1.0) and res["iou"] == pytest.approx(1.0)


def test_short_path_gives_null_multimatch(tmp_path, capsys):
    _, _, pa, _ = _paths(tmp_path)
    short = tmp_path / "short.csv"
    short.write_text("x,y,duration\n10,10,0.2\n300,200,0.3\n")
    assert cli_main(["compare", str(short), str(pa), "--size", "640", "512", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["multimatch"]["vector"] is None and res["sed"] > 0


def test_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli_main(["compare", str(bad), str(bad), "--size", "10", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare: ") and "not a fixation file" in err and err.count("\n") == 1
