"""Gaze test set-up. LSL stays on this machine: liblsl reads tests/gaze/lsl_loopback.cfg (set
before any LSL call, and inherited by the simulated trackers run as child processes)."""

import os
from pathlib import Path

import pytest

os.environ["LSLAPICFG"] = str(Path(__file__).with_name("lsl_loopback.cfg"))


@pytest.fixture
def fake_titta(monkeypatch):
    """The faithful fake of TittaPy (tests/gaze/fake_tittapy.py) installed as ``TittaPy_v2``;
    no tracker attached (``fake_add_tracker`` adds one)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("TittaPy_v2", Path(__file__).with_name("fake_tittapy.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, "TittaPy_v2", mod)
    yield mod
    mod.fake_reset()
