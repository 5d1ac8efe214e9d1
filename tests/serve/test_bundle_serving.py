"""The backend serving a real (tiny, randomly initialised) Gaze2Report bundle, saved and loaded."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from ml.serve import create_app
from tests.serve.conftest import AUTH, TOKEN, raw_image
from tests.serve.test_api import parse_sse


@pytest.fixture(scope="module")
def bundle_client(tmp_path_factory):
    from ml.models.bundle import base_identity, build_model, load_bundle, save_bundle
    from ml.models.config import ModelConfig, from_dict
    from ml.train.synthetic import TINY_MODEL_CONFIG

    torch.manual_seed(0)
    net = build_model(from_dict(ModelConfig, TINY_MODEL_CONFIG), tiny=True)
    out = save_bundle(net, tmp_path_factory.mktemp("bundle") / "b", base_identity("tiny"))
    with TestClient(create_app(load_bundle(out), TOKEN)) as c:
        yield c


def test_bundle_identity_and_capabilities(bundle_client):
    health = bundle_client.get("/v1/health").json()
    assert health["ready"] is True and health["untrained"] is False
    caps = bundle_client.get("/v1/model", headers=AUTH).json()["capabilities"]
    assert caps == {"scanpaths": True, "graph": True, "stream": True}


def test_bundle_scanpaths_graph_and_reports(bundle_client):
    image = raw_image(96, 80)
    r = bundle_client.post("/v1/scanpaths", json={"image": image, "n": 2, "seed": 1}, headers=AUTH)
    assert r.status_code == 200, r.text
    paths = r.json()["scanpaths"]
    assert len(paths) == 2 and all(0 <= f["x"] <= 80 and 0 <= f["y"] <= 96 for p in paths for f in p)

    gaze = [
        {"x": 10, "y": 20, "duration": 0.3},
        {"x": 40, "y": 50, "duration": 0.25},
        {"x": 60, "y": 30, "duration": 0.2},
    ]
    g = bundle_client.post("/v1/graph", json={"image": image, "gaze": gaze}, headers=AUTH)
    assert g.status_code == 200, g.text
    g = g.json()
    assert len(g["node_attention"]) == len(g["scanpath"]) >= 1
    assert abs(sum(g["node_attention"]) - 1.0) < 1e-3
    assert len(g["edges"]) == len(g["edge_attention"]) == len(g["edge_types"])

    req = {"image": image, "decoding": {"max_new_tokens": 6}}
    body = bundle_client.post("/v1/reports", json=req, headers=AUTH)
    assert body.status_code == 200, body.text
    body = body.json()
    assert body["untrained"] is False and body["scanpath_source"] == "predicted"
    assert len(body["attention"]) == len(body["scanpath"]) >= 1
    events = parse_sse(bundle_client.post("/v1/reports/stream", json=req, headers=AUTH).text)
    assert events[0][0] == "scanpath" and events[-1][0] == "done"
    assert events[-1][1]["report"] == body["report"]

    with_gaze = bundle_client.post("/v1/reports", json={**req, "gaze": gaze}, headers=AUTH).json()
    assert with_gaze["scanpath_source"] == "recorded"
