"""``python main.py label``: JSON Lines or plain text in, one labels object per line out, in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from main import main
from ml.types import CHEXPERT_OBSERVATIONS

ROOT = Path(__file__).resolve().parents[2]


def test_jsonl_and_plain_text_lines_in_order(tmp_path, capsys):
    src = tmp_path / "reports.txt"
    src.write_text(
        json.dumps({"id": "a1", "text": "Moderate right pleural effusion. No pneumothorax."})
        + "\n"
        + "Heart size is normal. Lungs are clear.\n"
        + "\n"
        + json.dumps({"id": 7, "text": "Possible left lower lobe pneumonia."})
        + "\n"
    )
    assert main(["label", str(src), "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == ["a1", 2, 3, 7]
    for o in out:
        assert list(o["labels"]) == list(CHEXPERT_OBSERVATIONS)
    assert out[0]["labels"]["Pleural Effusion"] == 1
    assert out[0]["labels"]["Pneumothorax"] == 0
    assert out[0]["labels"]["Fracture"] is None
    assert out[1]["labels"]["Cardiomegaly"] == 0 and out[1]["labels"]["No Finding"] == 1
    assert all(v is None for v in out[2]["labels"].values())  # an empty line is an empty report
    assert out[3]["labels"]["Pneumonia"] == -1


def test_readable_output(tmp_path, capsys):
    src = tmp_path / "r.txt"
    src.write_text("Small left effusion. No pneumothorax.\n")
    assert main(["label", str(src)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("1\t") and "Pleural Effusion" in line and "no Pneumothorax" in line


def test_stdin(tmp_path):
    proc = subprocess.run(
        [sys.executable, "main.py", "label", "-", "--json"],
        input='{"id": "x", "text": "Cardiomegaly."}\n',
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record == {"id": "x", "labels": {**dict.fromkeys(CHEXPERT_OBSERVATIONS), "Cardiomegaly": 1}}


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "ok"}\n{"id": 2, "txt": "missing text"}\n')
    assert main(["label", str(bad), "--json"]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "text" in err
    bad.write_text("{not json\n")
    assert main(["label", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err
