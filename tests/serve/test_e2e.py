"""End to end with the real embedded SmolLM2 (slow): HTTP, SSE and a direct call give one draft."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def serve_threads():
    """The thread count ``serve`` uses by default (half the cores), restored afterwards."""
    import os

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    yield
    torch.set_num_threads(before)


def test_real_embedded_model_drafts_over_http(tmp_path, serve_threads):
    from fastapi.testclient import TestClient

    from ml import assets
    from ml.cli.serve import DEFAULT_CPU_QUANT
    from ml.contracts import Decoding
    from ml.models.drafter import Drafter
    from ml.serve import create_app
    from ml.serve.images import decode_image
    from ml.serve.schemas import parse_image
    from tests.serve.conftest import AUTH, TOKEN, b64, dicom_bytes
    from tests.serve.test_api import parse_sse

    if not assets.is_fetched("llm"):
        pytest.fail("the embedded LLM is not fetched: run `python main.py assets fetch`")
    drafter = Drafter.load(None, device="cpu", cpu_scheme=DEFAULT_CPU_QUANT)  # as `serve` loads it
    image = {"format": "dicom", "data": b64(dicom_bytes(tmp_path, 128, 128))}
    req = {"image": image, "decoding": {"max_new_tokens": 24}}
    with TestClient(create_app(drafter, TOKEN)) as c:
        health = c.get("/v1/health").json()
        assert health["untrained"] is True and health["model"]["base_model"] == "SmolLM2-135M-Instruct"
        assert len(health["model"]["sha256"]) == 64
        assert health["model"]["inference"] == {"device": "cpu", "cpu_scheme": DEFAULT_CPU_QUANT}
        body = c.post("/v1/reports", json=req, headers=AUTH).json()
        events = parse_sse(c.post("/v1/reports/stream", json=req, headers=AUTH).text)
    assert body["report"].startswith("FINDINGS:") and len(body["report"]) > len("FINDINGS:") + 10
    assert body["n_tokens"] > 5 and body["untrained"] is True
    assert events[-1][0] == "done" and events[-1][1]["report"] == body["report"]
    assert "".join(d["text"] for k, d in events if k == "token").strip() == body["report"]
    direct = drafter.generate(
        decode_image(parse_image(image), max_pixels=10**8, max_bytes=10**8), None, Decoding(max_new_tokens=24)
    )
    assert direct.text == body["report"]
