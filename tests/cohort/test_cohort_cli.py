"""The ``cohort`` subcommand: registered, documented, and bad arguments give a one-line error."""

from __future__ import annotations

from ml.cli import main


def test_cohort_rejects_bad_arguments_with_one_line(capsys, tmp_path):
    assert main(["cohort", "--n", "0", "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert main(["cohort", "--n", "2", "--scale", "3", "--out", str(tmp_path / "c")]) == 1
    assert "scale" in capsys.readouterr().err


def test_cohort_help_lists_the_options(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["cohort", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--n", "--out", "--seed", "--workers", "--contact-sheet", "--scale"):
        assert flag in out


def test_cohort_weights_name_the_bad_kind_in_one_line(capsys, tmp_path):
    import pytest

    assert main(["cohort", "--n", "2", "--weights", "nodul=0.5", "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nodul" in err and "nodule" in err and "\n" not in err
    with pytest.raises(SystemExit):
        main(["cohort", "--n", "2", "--weights", "nodule:0.5", "--out", str(tmp_path / "c")])
    assert "KIND=WEIGHT" in capsys.readouterr().err


def test_cohort_add_refuses_a_probability_above_one(capsys, tmp_path):
    assert main(["cohort", "--n", "2", "--add", "nodule=1.5", "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "[0, 1]" in err
