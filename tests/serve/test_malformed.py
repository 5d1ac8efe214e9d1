"""Bad input never takes the backend down: each case is a 4xx with a message, and it keeps serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ml.serve import BackendSettings, create_app
from tests.serve.conftest import AUTH, TOKEN, b64, dicom_bytes, png_bytes, raw_image

JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(tiny_drafter):
    settings = BackendSettings(max_pixels=100_000, max_body_bytes=2 << 20)
    with TestClient(create_app(tiny_drafter, TOKEN, settings), raise_server_exceptions=False) as c:
        yield c


def _raw(arr: np.ndarray, dtype: str, shape=None) -> dict:
    return {"format": "raw", "data": b64(arr.tobytes()), "shape": list(shape or arr.shape), "dtype": dtype}


def _cases(tmp_path_factory):
    dcm = dicom_bytes(tmp_path_factory.mktemp("dcm"))
    nan = np.ones((32, 32), np.float32)
    nan[3, 4] = np.nan
    return {
        # (body: dict → JSON, or bytes → sent raw), headers, status, code, words the message must contain
        "not json content type": (
            b"image=1",
            {**AUTH, "Content-Type": "text/plain"},
            415,
            "unsupported_media_type",
            "application/json",
        ),
        "no content type": (b"{}", AUTH, 415, "unsupported_media_type", "application/json"),
        "invalid json": (b"{not json", JSON, 422, "invalid_request", "json"),
        "json array": (b"[1, 2]", JSON, 422, "invalid_request", ""),
        "missing image": ({}, JSON, 422, "invalid_request", "image"),
        "unknown field": ({"image": raw_image(), "colour": 1}, JSON, 422, "invalid_request", "colour"),
        "unknown format": (
            {"image": {"format": "bmp", "data": "AA=="}},
            JSON,
            422,
            "invalid_request",
            "format",
        ),
        "bad base64": ({"image": {"format": "png", "data": "not base64!"}}, JSON, 422, "invalid_request", "base64"),
        "empty data": ({"image": {"format": "png", "data": ""}}, JSON, 422, "invalid_request", "image.data"),
        "png garbage": (
            {"image": {"format": "png", "data": b64(b"\x89PNG\r\n\x1a\nrubbish" * 3)}},
            JSON,
            422,
            "bad_image",
            "image",
        ),
        "not an image": (
            {"image": {"format": "png", "data": b64(b"hello world, no image here")}},
            JSON,
            422,
            "bad_image",
            "not a DICOM",
        ),
        "truncated dicom": (
            {"image": {"format": "dicom", "data": b64(dcm[: len(dcm) // 2])}},
            JSON,
            422,
            "bad_image",
            "image",
        ),
        "dicom header only": (
            {"image": {"format": "dicom", "data": b64(dcm[:140])}},
            JSON,
            422,
            "bad_image",
            "image",
        ),
        "colour png": (
            {"image": {"format": "png", "data": b64(png_bytes(32, 32, "RGB"))}},
            JSON,
            422,
            "bad_image",
            "",
        ),
        "3-D volume": (
            {"image": _raw(np.zeros((4, 16, 16), np.uint16), "uint16")},
            JSON,
            422,
            "invalid_request",
            "image.shape: list should have at most 2 items",
        ),
        "1-D array": (
            {"image": _raw(np.zeros(64, np.uint8), "uint8")},
            JSON,
            422,
            "invalid_request",
            "image.shape: list should have at least 2 items",
        ),
        "raw without shape": (
            {"image": {"format": "raw", "data": b64(b"\0" * 16), "dtype": "uint8"}},
            JSON,
            422,
            "invalid_request",
            "image.shape: field required",
        ),
        "raw wrong length": (
            {"image": _raw(np.zeros((8, 8), np.uint16), "uint16", shape=(8, 9))},
            JSON,
            422,
            "bad_image",
            "bytes",
        ),
        "raw zero dim": (
            {"image": _raw(np.zeros((0,), np.uint8), "uint8", shape=(0, 8))},
            JSON,
            422,
            "invalid_request",
            "image.shape.0",
        ),
        "nan pixels": ({"image": _raw(nan, "float32")}, JSON, 422, "bad_image", "NaN"),
        "too many pixels": (
            {"image": _raw(np.zeros((400, 400), np.uint8), "uint8")},
            JSON,
            413,
            "too_large",
            "limit",
        ),
        "too large png": (
            {"image": {"format": "png", "data": b64(png_bytes(400, 400))}},
            JSON,
            413,
            "too_large",
            "",
        ),
        "body too large": ({"image": {"format": "png", "data": "A" * (3 << 20)}}, JSON, 413, "too_large", ""),
        "empty gaze": ({"image": raw_image(), "gaze": []}, JSON, 422, "bad_gaze", "empty"),
        "gaze outside": (
            {"image": raw_image(), "gaze": [{"x": 500, "y": 1, "duration": 0.2}]},
            JSON,
            422,
            "bad_gaze",
            "outside",
        ),
        "negative duration": (
            {"image": raw_image(), "gaze": [{"x": 5, "y": 1, "duration": -1}]},
            JSON,
            422,
            "invalid_request",
            "duration",
        ),
        "nan gaze": (
            b'{"image": %s, "gaze": [{"x": NaN, "y": 1, "duration": 0.1}]}'
            % json.dumps(raw_image()).encode(),
            JSON,
            422,
            "invalid_request",
            "gaze",
        ),
        "too many fixations": (
            {"image": raw_image(), "gaze": [{"x": 1, "y": 1, "duration": 0.1}] * 513},
            JSON,
            422,
            "invalid_request",
            "gaze",
        ),
        "decoding out of range": (
            {"image": raw_image(), "decoding": {"max_new_tokens": 0}},
            JSON,
            422,
            "invalid_request",
            "max_new_tokens",
        ),
        "prompt over context": (
            {"image": raw_image(), "decoding": {"max_new_tokens": 1024}},
            JSON,
            422,
            "context_too_long",
            "context",
        ),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _cases(tmp_path_factory)


@pytest.mark.parametrize("endpoint", ["/v1/reports", "/v1/reports/stream"])
def test_each_bad_input_is_a_clear_4xx(client, cases, endpoint):
    failures = []
    for name, (body, headers, status, code, words) in cases.items():
        if isinstance(body, dict):
            r = client.post(endpoint, content=json.dumps(body).encode(), headers=headers)
        else:
            r = client.post(endpoint, content=body, headers=headers)
        got = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        ok = (
            r.status_code == status
            and got.get("code") == code
            and words.lower() in got.get("detail", "").lower()
            and "\n" not in got.get("detail", "")
        )
        if not ok:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert client.get("/v1/health").json()["ready"] is True
    ok = client.post(endpoint, json={"image": raw_image(), "decoding": {"max_new_tokens": 2}}, headers=AUTH)
    assert ok.status_code == 200


def test_scanpath_endpoints_validate_before_the_model(client):
    r = client.post("/v1/graph", json={"image": raw_image(), "gaze": []}, headers=AUTH)
    assert r.status_code == 422 and r.json()["code"] == "bad_gaze"
    r = client.post("/v1/scanpaths", json={"image": raw_image(), "n": 0}, headers=AUTH)
    assert r.status_code == 422 and "n" in r.json()["detail"]


def test_unknown_paths_and_methods_are_json_errors(client):
    r = client.get("/v1/nope", headers=AUTH)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/v1/reports", headers=AUTH)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"gaze": [{"x": 5, "y": 1, "duration": False}]}, "gaze.0.duration"),
        ({"gaze": [{"x": True, "y": 1, "duration": 0.2}]}, "gaze.0.x"),
        ({"decoding": {"seed": False}}, "decoding.seed"),
        ({"decoding": {"max_new_tokens": True}}, "decoding.max_new_tokens"),
        ({"decoding": {"temperature": "1.0"}}, "decoding.temperature"),
        ({"decoding": {"do_sample": 1}}, "decoding.do_sample"),
        ({"decoding": {"seed": 1.5}}, "decoding.seed"),
    ],
)
def test_a_boolean_or_string_is_never_taken_for_a_number(client, body, field):
    r = client.post("/v1/reports", json={"image": raw_image(), **body}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_request" and r.json()["detail"].startswith(field + ":")


def test_booleans_are_refused_in_the_image_and_integral_numbers_are_integers(client):
    image = {**raw_image(), "shape": [True, 48]}
    r = client.post("/v1/reports", json={"image": image}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"].startswith("image.shape.0:")
    image = {**raw_image(), "spacing": [False, 0.5]}
    r = client.post("/v1/reports", json={"image": image}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"].startswith("image.spacing.0:")
    ok = {"image": {**raw_image(), "shape": [64.0, 48]}, "decoding": {"max_new_tokens": 2.0, "seed": 3.0}}
    assert client.post("/v1/reports", json=ok, headers=AUTH).status_code == 200


@pytest.mark.parametrize("path", ["/v1/health", "/v1/model"])
def test_posting_to_a_get_endpoint_is_405_whatever_the_body(client, path):
    for headers in (JSON, {**AUTH, "Content-Type": "text/plain"}, AUTH):
        r = client.post(path, content=b"{}", headers=headers)
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed", r.text
        assert r.headers["allow"] == "GET"
    r = client.put("/v1/reports", json={}, headers=AUTH)
    assert r.status_code == 405 and r.headers["allow"] == "POST"


@pytest.mark.parametrize("method, path", [("POST", "/v1/reports"), ("GET", "/v1/health"), ("POST", "/v1/health")])
def test_a_declared_body_over_the_limit_is_a_json_413_before_anything_is_read(client, method, path):
    headers = {**JSON, "Content-Length": str(300 << 20)}
    r = client.request(method, path, content=b"{}", headers=headers)
    assert r.status_code == 413
    assert r.json() == {"detail": "request body is over the 2 MiB limit", "code": "too_large", "error_id": None}


def test_a_chunked_body_over_the_limit_is_a_json_413(client):
    def chunks():
        yield b'{"image": {"format": "png", "data": "'
        for _ in range(5):
            yield b"A" * (1 << 20)
        yield b'"}}'

    r = client.post("/v1/reports", content=chunks(), headers=JSON)
    assert r.status_code == 413, r.text
    assert r.json() == {"detail": "request body is over the 2 MiB limit", "code": "too_large", "error_id": None}
    assert client.get("/v1/health").json()["ready"] is True


@pytest.mark.parametrize(
    "pixels, dtype, says",
    [
        (np.zeros((64, 64), np.uint16), "uint16", "one value (0) everywhere"),
        (np.full((64, 64), 65535, np.uint16), "uint16", "one value (65535) everywhere"),
        (np.zeros((64, 64), np.float32), "float32", "one value (0) everywhere"),
        (np.full((64, 64), 3e38, np.float32), "float32", "beyond any detector's range"),
        (np.arange(4, dtype=np.uint8).reshape(2, 2), "uint8", "2×2 pixels"),
    ],
)
def test_a_raw_upload_that_cannot_be_a_radiograph_is_refused_like_a_file(client, pixels, dtype, says):
    image = {**_raw(pixels.astype(pixels.dtype.newbyteorder("<")), dtype), "name": "scan.raw"}
    r = client.post("/v1/reports", json={"image": image}, headers=AUTH)
    assert r.status_code == 422 and r.json()["code"] == "bad_image", r.text
    assert r.json()["detail"].startswith("image: scan.raw ") and says in r.json()["detail"]
