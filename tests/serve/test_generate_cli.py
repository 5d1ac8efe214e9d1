"""``python main.py generate``: the domain check reaches the JSON answer and the printed summary."""

from __future__ import annotations

import json

import pytest

from ml.cli import build_parser
from ml.contracts import DomainCheck
from tests.serve.conftest import FakeModel, png_bytes


class _Bundle(FakeModel):
    """A loaded bundle as ``generate`` uses it (it also passes the gaze mode)."""

    def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None, mode=None):
        return super().generate(image, scanpath, decoding, on_token, should_stop)


@pytest.fixture
def run_generate(tmp_path, monkeypatch, capsys):
    from ml.models import bundle as bundle_module

    model = _Bundle()
    monkeypatch.setattr(bundle_module, "load_bundle", lambda path, device="cpu": model)
    image = tmp_path / "chest.png"
    image.write_bytes(png_bytes(128, 128))

    def run(*extra: str) -> tuple[int, str]:
        parser, _ = build_parser()
        args = parser.parse_args(["generate", str(image), "--max-tokens", "3", *extra])
        code = args.func(args)
        return code, capsys.readouterr().out

    run.model = model
    return run


def test_generate_json_carries_the_domain_check(run_generate):
    run_generate.model.domain = DomainCheck(in_domain=False, score=30.0, threshold=9.5, method="energy")
    code, out = run_generate("--json")
    assert code == 0
    assert json.loads(out)["domain"] == {"in_domain": False, "score": 30.0, "threshold": 9.5, "method": "energy"}
    run_generate.model.domain = None
    code, out = run_generate("--json")
    assert code == 0 and json.loads(out)["domain"] is None


def test_generate_says_plainly_when_the_image_is_out_of_domain(run_generate):
    run_generate.model.domain = DomainCheck(in_domain=False, score=30.0, threshold=9.5, method="energy")
    assert "OUT OF DOMAIN" in run_generate()[1]
    run_generate.model.domain = DomainCheck(in_domain=True, score=2.0, threshold=9.5, method="energy")
    out = run_generate()[1]
    assert "domain: in domain (energy score 2, threshold 9.5)" in out and "OUT OF" not in out
    run_generate.model.domain = None
    assert "no domain gate" in run_generate()[1]
