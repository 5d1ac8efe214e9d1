"""Shared test set-up: Qt runs offscreen; heavy tests are marked slow."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
