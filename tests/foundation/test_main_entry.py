"""main.py: no arguments or GUI options alone open the GUI; subcommands go to ml.cli."""

import re

import main


def test_gui_options_without_the_gui_word_reach_the_gui(monkeypatch):
    seen = {}
    monkeypatch.setattr("app.main.run_gui", lambda args: seen.setdefault("args", args) and 0)
    assert main.main(["--backend", "http://127.0.0.1:9", "--screenshot", "x.png"]) == 0
    assert seen["args"].backend == "http://127.0.0.1:9" and seen["args"].screenshot == "x.png"


def test_every_listed_subcommand_is_registered_and_in_help(capsys):
    """build_parser skips a missing module silently, so check each listed command really registers."""
    import pytest

    from ml.cli import COMMANDS, build_parser

    _, sub = build_parser()
    assert set(sub.choices) == set(COMMANDS)
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = capsys.readouterr().out
    for name in (*COMMANDS, "gui"):
        assert re.search(rf"^    {name}(\s|$)", out, re.MULTILINE), name
