"""``python main.py session list|export|import|recover``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ml.cli import main
from ml.gaze.recorder import Recorder
from ml.store import Store
from ml.types import GazeSample


def _record(db, n=600):
    rec = Recorder(db, study="case-9", reader="dr-z")
    sid = rec.start()
    rec.push_many(
        [GazeSample(1_000_000 + i * 1667, 900.0 + (i // 60) * 40, 500.0, True, 3.2) for i in range(n)]
    )
    rec.stop()
    return sid


def test_list_export_import_recover(tmp_path, capsys):
    db = tmp_path / "g.db"
    sid = _record(db)
    assert main(["session", "--db", str(db), "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["status"], r["sample_count"], r["study_uid"]) for r in rows] == [
        (sid, "completed", 600, "case-9")
    ]

    assert main(["session", "--db", str(db), "export", str(sid), str(tmp_path / "exp")]) == 0
    assert "600 samples" in capsys.readouterr().out
    assert (tmp_path / "exp" / "gaze.csv").is_file() and (tmp_path / "exp" / "fixations.csv").is_file()

    assert (
        main(
            [
                "session",
                "--db",
                str(db),
                "import",
                str(tmp_path / "exp"),
                "--study",
                "case-9",
                "--reader",
                "dr-y",
            ]
        )
        == 0
    )
    new = int(capsys.readouterr().out.strip())
    with Store(db) as store:
        assert store.sample_count(new) == 600 and store.session(new).reader == "dr-y"
        dead = store.create_session("case-9", "dr-x", pid=2**22 + 12345)  # no such process
    assert main(["session", "--db", str(db), "recover"]) == 0
    assert f"recovered 1 interrupted session(s): {dead}" in capsys.readouterr().out
    assert main(["session", "--db", str(db), "list", "--status", "interrupted"]) == 0
    assert "interrupted" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    db = tmp_path / "g.db"
    assert main(["session", "--db", str(db), "list"]) == 1
    assert "no database" in capsys.readouterr().err
    _record(db, 10)
    assert main(["session", "--db", str(db), "export", "99", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err.strip() == "error: No gaze session 99 in the database."
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert (
        main(
            ["session", "--db", str(db), "import", str(tmp_path / "bad.csv"), "--study", "s", "--reader", "r"]
        )
        == 1
    )
    assert "missing or non-numeric column" in capsys.readouterr().err


def test_help_is_fast_and_lists_session():
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[2] / "main.py"), "session", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "export" in out.stdout and "recover" in out.stdout
