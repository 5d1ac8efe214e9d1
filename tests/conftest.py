"""Shared test set-up: Qt runs offscreen; heavy tests are marked slow; Lab Streaming Layer stays on
this machine (liblsl reads tests/gaze/lsl_loopback.cfg, set before any LSL call in any test folder, since
a recording in the app tests opens a marker outlet too, and inherited by child processes)."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["LSLAPICFG"] = str(Path(__file__).parent / "gaze" / "lsl_loopback.cfg")


@pytest.fixture
def fake_tobii(monkeypatch):
    """The faithful fake of ``tobii_research`` (tests/gaze/fake_tobii_research.py), installed as
    the real module's name; no tracker attached (``fake_add_tracker`` adds one)."""
    import importlib.util
    import sys
    from pathlib import Path

    fake = Path(__file__).with_name("gaze") / "fake_tobii_research.py"
    spec = importlib.util.spec_from_file_location("tobii_research", fake)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, "tobii_research", mod)
    yield mod
    mod.fake_reset()
