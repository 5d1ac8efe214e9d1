"""The v1 API end to end through TestClient: the real drafter on a tiny LLM, and a fake trained model."""

from __future__ import annotations

import json
import logging
import threading
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient

from ml.contracts import Decoding, DomainCheck
from ml.serve import BackendSettings, create_app
from ml.serve.auth import TokenAuth
from tests.serve.conftest import AUTH, TOKEN, FakeModel, b64, png_bytes, raw_image


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        kind, data = None, []
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if kind:
            events.append((kind, json.loads("\n".join(data))))
    return events


@pytest.fixture
def client(tiny_drafter):
    with TestClient(create_app(tiny_drafter, TOKEN)) as c:
        yield c


def test_health_needs_no_token_and_says_untrained(client):
    r = client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True and body["untrained"] is True
    assert body["model"]["kind"] == "drafter" and body["model"]["base_model"] == "tiny-llama"
    assert body["queue"] == {"running": 0, "waiting": 0, "capacity": 8}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}]
)
def test_every_other_endpoint_needs_the_token(client, headers):
    assert client.get("/v1/model", headers=headers).status_code == 401
    r = client.post("/v1/reports", json={"image": raw_image()}, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "unauthorized"


def test_model_info_lists_capabilities(client):
    body = client.get("/v1/model", headers=AUTH).json()
    assert body["untrained"] is True
    assert body["capabilities"] == {"scanpaths": False, "graph": False, "stream": True}
    assert body["context_length"] == 256
    assert body["decoding"]["max_new_tokens"] == 160


def test_report_from_raw_and_png_is_a_deterministic_draft(client):
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 12}}
    a = client.post("/v1/reports", json=req, headers=AUTH)
    assert a.status_code == 200, a.text
    body = a.json()
    assert body["report"].startswith("FINDINGS:")
    assert body["untrained"] is True and body["model"]["untrained"] is True
    assert body["scanpath"] == [] and body["scanpath_source"] is None
    assert body["image_size"] == [48, 64]
    assert 1 <= body["n_tokens"] <= 12
    b = client.post("/v1/reports", json=req, headers=AUTH).json()
    assert b["report"] == body["report"]
    png = {"image": {"format": "png", "data": b64(png_bytes(40, 30))}, "decoding": {"max_new_tokens": 5}}
    r = client.post("/v1/reports", json=png, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["image_size"] == [30, 40]


def test_dicom_upload(client, tmp_path):
    from tests.serve.conftest import dicom_bytes

    req = {
        "image": {"format": "dicom", "data": b64(dicom_bytes(tmp_path))},
        "decoding": {"max_new_tokens": 4},
    }
    r = client.post("/v1/reports", json=req, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["image_size"] == [48, 64]


def test_stream_events_concatenate_to_the_report(client):
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 12}}
    r = client.post("/v1/reports/stream", json=req, headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "scanpath" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}  # no domain event: the drafter has no domain gate
    assert events[-1][1]["domain"] is None
    streamed = "".join(d["text"] for k, d in events if k == "token")
    done = events[-1][1]
    assert streamed.strip() == done["report"]
    plain = client.post("/v1/reports", json=req, headers=AUTH).json()
    assert done["report"] == plain["report"]


def test_beam_search_streams_the_whole_text_once(client):
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 6, "num_beams": 2}}
    events = parse_sse(client.post("/v1/reports/stream", json=req, headers=AUTH).text)
    assert events[-1][0] == "done"
    assert "".join(d["text"] for k, d in events if k == "token").strip() == events[-1][1]["report"]


def test_known_words_is_on_unless_a_request_turns_it_off():
    model = FakeModel()
    with TestClient(create_app(model, TOKEN)) as c:
        for decoding in ({}, {"known_words": False}):
            r = c.post("/v1/reports", json={"image": raw_image(), "decoding": decoding}, headers=AUTH)
            assert r.status_code == 200
    assert [d.known_words for d in model.decodings] == [True, False]


def test_redraft_reaches_the_model_and_the_answer_says_whether_it_replaced_the_first_draft():
    model = FakeModel()
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 3}}
    with TestClient(create_app(model, TOKEN)) as c:
        assert c.post("/v1/reports", json=req, headers=AUTH).json()["redrafted"] is False
        model.redrafted = True
        off = {**req, "decoding": {"max_new_tokens": 3, "redraft": 0}}
        assert c.post("/v1/reports", json=off, headers=AUTH).json()["redrafted"] is True
        events = parse_sse(c.post("/v1/reports/stream", json=req, headers=AUTH).text)
        bad = {**req, "decoding": {"redraft": -1}}
        assert c.post("/v1/reports", json=bad, headers=AUTH).status_code == 422
    assert events[-1][0] == "done" and events[-1][1]["redrafted"] is True
    assert [d.redraft for d in model.decodings] == [Decoding.redraft, 0, Decoding.redraft]


def test_a_draft_carries_the_image_models_likely_findings_plain_and_streamed():
    want = [{"label": "Pleural Effusion", "probability": 0.97, "place": "right lower", "in_draft": False}]
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 3}}
    with TestClient(create_app(FakeModel(), TOKEN)) as c:
        assert c.post("/v1/reports", json=req, headers=AUTH).json()["findings"] == want
        events = parse_sse(c.post("/v1/reports/stream", json=req, headers=AUTH).text)
    assert events[-1][0] == "done" and events[-1][1]["findings"] == want


def test_the_domain_check_is_on_the_wire_plain_streamed_early_and_done():
    model = FakeModel()
    model.domain = DomainCheck(in_domain=False, score=41.5, threshold=12.25, method="mahalanobis")
    want = {"in_domain": False, "score": 41.5, "threshold": 12.25, "method": "mahalanobis"}
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 3}}
    with TestClient(create_app(model, TOKEN)) as c:
        assert c.post("/v1/reports", json=req, headers=AUTH).json()["domain"] == want
        events = parse_sse(c.post("/v1/reports/stream", json=req, headers=AUTH).text)
        kinds = [k for k, _ in events]
        assert kinds[:2] == ["scanpath", "domain"] and kinds[2] == "token"
        assert events[1][1] == want and events[-1] == ("done", ANY)
        assert events[-1][1]["domain"] == want
        model.domain = None  # a bundle without a gate says so: null, not a guess
        assert c.post("/v1/reports", json=req, headers=AUTH).json()["domain"] is None
        events = parse_sse(c.post("/v1/reports/stream", json=req, headers=AUTH).text)
        assert "domain" not in dict(events) and events[-1][1]["domain"] is None


def test_the_gui_client_reads_the_draft_and_the_domain_the_server_writes():
    from app.backend.client import domain_check, draft_from_response

    model = FakeModel()
    model.domain = DomainCheck(in_domain=False, score=41.5, threshold=12.25, method="mahalanobis")
    req = {"image": raw_image(), "decoding": {"max_new_tokens": 3}}
    with TestClient(create_app(model, TOKEN)) as c:
        plain = c.post("/v1/reports", json=req, headers=AUTH).json()
        events = dict(parse_sse(c.post("/v1/reports/stream", json=req, headers=AUTH).text))
    draft = draft_from_response(plain)
    assert draft.domain == model.domain and draft.text == " w0 w1 w2" and draft.findings[0].probability == 0.97
    assert domain_check(events["domain"]) == model.domain
    assert draft_from_response(events["done"]).domain == model.domain


def test_drafter_has_no_scanpaths_or_graph(client):
    for path in ("/v1/scanpaths", "/v1/graph"):
        r = client.post(path, json={"image": raw_image()}, headers=AUTH)
        assert r.status_code == 409
        assert r.json()["code"] == "unsupported" and "bundle" in r.json()["detail"]


def test_scanpaths_graph_and_given_gaze_with_a_trained_model():
    model = FakeModel()
    with TestClient(create_app(model, TOKEN)) as c:
        r = c.post("/v1/scanpaths", json={"image": raw_image(), "n": 3, "seed": 4}, headers=AUTH)
        assert r.status_code == 200
        paths = r.json()["scanpaths"]
        assert len(paths) == 3 and all(len(p) == 4 for p in paths)
        assert all(0 <= f["x"] <= 48 and 0 <= f["y"] <= 64 for p in paths for f in p)

        gaze = [{"x": 10, "y": 20, "duration": 0.3}, {"x": 30, "y": 40, "duration": 0.2}]
        g = c.post("/v1/graph", json={"image": raw_image(), "gaze": gaze}, headers=AUTH).json()
        assert g["scanpath"] == gaze and g["scanpath_source"] == "recorded"
        assert (
            g["node_attention"] == [0.5, 0.5] and g["edges"] == [[0, 1]] and g["edge_types"] == ["temporal"]
        )
        g = c.post("/v1/graph", json={"image": raw_image()}, headers=AUTH).json()
        assert g["scanpath_source"] == "predicted" and len(g["scanpath"]) == 4

        body = c.post(
            "/v1/reports",
            json={"image": raw_image(), "gaze": gaze, "decoding": {"max_new_tokens": 3}},
            headers=AUTH,
        ).json()
        assert body["report"] == " w0 w1 w2" and body["untrained"] is False
        assert body["scanpath"] == gaze and body["attention"] == [0.5, 0.5]
        given = model.calls[-1][1]
        assert [(f.x, f.y) for f in given.fixations] == [(10, 20), (30, 40)]

        events = parse_sse(c.post("/v1/reports/stream", json={"image": raw_image()}, headers=AUTH).text)
        assert events[0][0] == "scanpath" and events[0][1]["scanpath_source"] == "predicted"
        assert len(events[0][1]["scanpath"]) == 4


def test_unexpected_error_is_a_500_with_a_logged_id_and_the_server_keeps_serving(caplog):
    model = FakeModel(fail=RuntimeError("boom"))
    with TestClient(create_app(model, TOKEN), raise_server_exceptions=False) as c:
        with caplog.at_level(logging.ERROR, logger="gaze2report.serve"):
            r = c.post("/v1/reports", json={"image": raw_image()}, headers=AUTH)
        assert r.status_code == 500
        body = r.json()
        assert body["code"] == "internal" and body["error_id"]
        assert any(body["error_id"] in rec.getMessage() for rec in caplog.records)
        events = parse_sse(c.post("/v1/reports/stream", json={"image": raw_image()}, headers=AUTH).text)
        assert events[-1][0] == "error" and events[-1][1]["error_id"]
        assert c.get("/v1/health").json()["ready"] is True


def test_full_queue_answers_429_with_retry_after():
    block = threading.Event()
    model = FakeModel(block=block)
    app = create_app(model, TOKEN, BackendSettings(queue_capacity=0))
    with TestClient(app) as c:
        result = {}

        def first():
            result["r"] = c.post(
                "/v1/reports", json={"image": raw_image(), "decoding": {"max_new_tokens": 40}}, headers=AUTH
            )

        t = threading.Thread(target=first)
        t.start()
        assert model.started.wait(10)
        r = c.post("/v1/reports", json={"image": raw_image()}, headers=AUTH)
        assert r.status_code == 429 and r.json()["code"] == "busy"
        assert int(r.headers["retry-after"]) >= 1
        assert c.get("/v1/health").json()["queue"]["running"] == 1
        block.set()
        t.join(30)
        assert result["r"].status_code == 200
        assert (
            c.post(
                "/v1/reports", json={"image": raw_image(), "decoding": {"max_new_tokens": 2}}, headers=AUTH
            ).status_code
            == 200
        )


def test_loading_model_is_not_ready_then_ready():
    gate = threading.Event()

    def factory():
        gate.wait(10)
        return FakeModel()

    with TestClient(create_app(factory, TOKEN)) as c:
        h = c.get("/v1/health").json()
        assert h["ready"] is False and h["model"] is None
        r = c.post("/v1/reports", json={"image": raw_image()}, headers=AUTH)
        assert r.status_code == 503 and "retry-after" in r.headers
        gate.set()
        for _ in range(200):
            if c.get("/v1/health").json()["ready"]:
                break
            threading.Event().wait(0.02)
        assert c.get("/v1/health").json()["model"]["name"] == "fake"


def test_failed_load_is_reported_in_health():
    def factory():
        raise OSError("no such bundle")

    with TestClient(create_app(factory, TOKEN)) as c:
        for _ in range(200):
            h = c.get("/v1/health").json()
            if h["error"]:
                break
            threading.Event().wait(0.02)
        assert h["ready"] is False and "no such bundle" in h["error"]
        assert c.post("/v1/reports", json={"image": raw_image()}, headers=AUTH).status_code == 503


def test_token_never_reaches_the_logs(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.get("/v1/model", headers=AUTH)
        client.get("/v1/model", headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
        client.post("/v1/reports", json={"image": {"format": "png", "data": "!!"}}, headers=AUTH)
    assert caplog.records  # something was logged at all
    assert not any(TOKEN in rec.getMessage() for rec in caplog.records)
    assert TOKEN not in repr(TokenAuth(TOKEN))


def test_openapi_schema_documents_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/v1/health",
        "/v1/model",
        "/v1/scanpaths",
        "/v1/graph",
        "/v1/reports",
        "/v1/reports/stream",
    } <= paths
    assert "text/event-stream" in schema["paths"]["/v1/reports/stream"]["post"]["responses"]["200"]["content"]
    assert any("HTTPBearer" in k for k in schema["components"]["securitySchemes"])


def test_image_decoding_and_model_calls_run_off_the_event_loop(tiny_drafter, monkeypatch):
    import asyncio

    from ml.serve import deps

    seen = []

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

    real_decode = deps.decode_image

    def spy_decode(*args, **kwargs):
        seen.append(("decode", on_loop()))
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(deps, "decode_image", spy_decode)
    model = FakeModel()
    real_generate = model.generate

    def spy_generate(*args, **kwargs):
        seen.append(("generate", on_loop()))
        return real_generate(*args, **kwargs)

    model.generate = spy_generate
    with TestClient(create_app(model, TOKEN)) as c:
        assert c.post("/v1/reports", json={"image": raw_image()}, headers=AUTH).status_code == 200
    assert seen == [("decode", False), ("generate", False)]


def test_errors_that_carry_a_status_are_4xx_and_every_other_error_is_a_500():
    from ml.contracts import StatusError
    from ml.models.gaze2report import GazeModeError

    # an error class of this project that does not derive from StatusError is a bug, not a refusal
    ProjectError = type("ProjectError", (ValueError,), {"__module__": "ml.models.example"})
    TooDark = type("TooDark", (StatusError,), {"status": 422, "code": "too_dark"})
    cases = [
        (GazeModeError("the scanpath has no fixations"), 422, "bad_gaze"),
        (TooDark("image too dark to read"), 422, "too_dark"),
        (ProjectError("image too dark to read"), 500, "internal"),
        (NotImplementedError("half-built"), 500, "internal"),
        (ValueError("bug"), 500, "internal"),
    ]
    for exc, status, code in cases:
        with TestClient(create_app(FakeModel(fail=exc), TOKEN), raise_server_exceptions=False) as c:
            r = c.post("/v1/reports", json={"image": raw_image()}, headers=AUTH)
            events = parse_sse(c.post("/v1/reports/stream", json={"image": raw_image()}, headers=AUTH).text)
        assert (r.status_code, r.json()["code"]) == (status, code)
        want = r.json() if status == 422 else {**r.json(), "detail": ANY, "error_id": ANY}
        assert events[-1] == ("error", want)
        if status == 422:
            assert r.json()["detail"] == str(exc)
