"""``python main.py serve`` argument handling: loopback by default, remote needs a flag and a token."""

from __future__ import annotations

import pytest

from ml.cli import build_parser
from ml.cli.serve import is_loopback, make_factory


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_non_loopback_hosts(host):
    assert not is_loopback(host)


def _run(argv, monkeypatch, token=None):
    if token is None:
        monkeypatch.delenv("GAZE2REPORT_TOKEN", raising=False)
    else:
        monkeypatch.setenv("GAZE2REPORT_TOKEN", token)
    parser, _ = build_parser()
    args = parser.parse_args(["serve", *argv])
    return args.func(args)


def test_remote_bind_needs_the_flag(monkeypatch, capsys):
    assert _run(["--host", "0.0.0.0"], monkeypatch, token="a" * 32) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_remote_bind_needs_an_explicit_token(monkeypatch, capsys):
    assert _run(["--host", "0.0.0.0", "--allow-remote"], monkeypatch) == 2
    assert "GAZE2REPORT_TOKEN" in capsys.readouterr().err


def test_short_token_is_refused(monkeypatch, capsys):
    assert _run([], monkeypatch, token="short") == 2
    err = capsys.readouterr().err
    assert "at least" in err and "short" not in err.replace("at least", "")


def test_defaults(monkeypatch):
    parser, _ = build_parser()
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.device, args.allow_remote, args.bundle) == (
        "127.0.0.1",
        8765,
        "auto",
        False,
        None,
    )


def test_a_bundle_that_fails_to_load_falls_back_to_the_drafter_and_says_why(tmp_path, monkeypatch):
    from ml.models import drafter

    calls = {}

    def fake_load(llm=None, device="cpu", dtype=None, note="", cpu_scheme="none"):
        calls["note"] = note
        return "drafter"

    monkeypatch.setattr(drafter.Drafter, "load", staticmethod(fake_load))
    missing = tmp_path / "no-such-bundle"
    assert make_factory(missing, None, "cpu")() == "drafter"
    assert str(missing) in calls["note"] and "untrained drafter" in calls["note"]


def test_the_demo_bundle_is_the_default_once_built(tmp_path, monkeypatch):
    from ml.cli import serve
    from ml.models import bundle

    monkeypatch.setattr(bundle, "DEMO_BUNDLE", tmp_path)
    assert serve.default_bundle() is None
    (tmp_path / "manifest.json").write_text("{}")
    assert serve.default_bundle() == tmp_path


@pytest.mark.parametrize("admin", ["short", "a" * 32])
def test_an_admin_token_must_be_long_and_not_the_readers(monkeypatch, capsys, admin):
    monkeypatch.setenv("GAZE2REPORT_ADMIN_TOKEN", admin)
    assert _run([], monkeypatch, token="a" * 32) == 2
    err = capsys.readouterr().err
    assert "GAZE2REPORT_ADMIN_TOKEN" in err and admin not in err.replace("GAZE2REPORT_ADMIN_TOKEN", "")
