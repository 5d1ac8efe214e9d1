"""A new bundle is served without a restart: admin token only, in-flight drafts finish on the old model,
health and every draft name the version that answered, and a bundle that fails to load changes nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ml.contracts import StatusError
from ml.serve import create_app
from tests.serve.conftest import AUTH, TOKEN, FakeModel, raw_image

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class NotABundle(StatusError):
    status, code = 409, "bundle_mismatch"


class VersionedModel(FakeModel):
    def __init__(self, version: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.version = version

    def info(self):
        return {**super().info(), "version": self.version}


def fake_bundle(root: Path, version: str) -> Path:
    folder = root / f"bundle-{version}"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"name": "fake", "version": version}))
    return folder


def load_fake(path: Path) -> VersionedModel:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise NotABundle(f"{path} is not a model bundle (no manifest.json)")
    return VersionedModel(json.loads(manifest.read_text())["version"])


def swap(client: TestClient, folder: Path, headers=ADMIN):
    return client.post("/v1/admin/bundle", json={"bundle": str(folder)}, headers=headers)


def draft_version(client: TestClient) -> str:
    r = client.post("/v1/reports", json={"image": raw_image(), "decoding": {"max_new_tokens": 2}}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()["model"]["version"]


def test_the_admin_endpoint_exists_only_with_an_admin_token_and_takes_no_other(tmp_path):
    folder = fake_bundle(tmp_path, "2")
    with TestClient(create_app(VersionedModel("1"), TOKEN, loader=load_fake)) as c:
        assert swap(c, folder).status_code == 404
    with TestClient(create_app(VersionedModel("1"), TOKEN, admin_token=ADMIN_TOKEN, loader=load_fake)) as c:
        for headers in ({}, AUTH):  # the readers' token cannot swap the model
            r = swap(c, folder, headers)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert c.get("/v1/health").json()["model"]["version"] == "1"


def test_a_swap_serves_the_new_bundle_and_health_and_drafts_name_it(tmp_path):
    app = create_app(VersionedModel("1"), TOKEN, admin_token=ADMIN_TOKEN, loader=load_fake)
    with TestClient(app) as c:
        assert c.get("/v1/health").json()["model"]["version"] == "1" and draft_version(c) == "1"
        r = swap(c, fake_bundle(tmp_path, "2"))
        assert r.status_code == 200, r.text
        assert r.json()["model"]["version"] == "2" and r.json()["previous"]["version"] == "1"
        assert c.get("/v1/health").json()["model"]["version"] == "2"
        assert c.get("/v1/model", headers=AUTH).json()["info"]["version"] == "2"
        assert draft_version(c) == "2"


def test_a_bundle_that_fails_to_load_changes_nothing(tmp_path):
    app = create_app(VersionedModel("1"), TOKEN, admin_token=ADMIN_TOKEN, loader=load_fake)
    with TestClient(app) as c:
        r = swap(c, tmp_path / "no-such-bundle")
        assert r.status_code == 409 and r.json()["code"] == "bundle_mismatch"
        assert "no manifest.json" in r.json()["detail"]
        r = c.post("/v1/admin/bundle", json={"bundle": ""}, headers=ADMIN)
        assert r.status_code == 422
        assert c.get("/v1/health").json()["model"]["version"] == "1" and draft_version(c) == "1"


def test_a_swap_replaces_a_model_that_failed_to_load(tmp_path):
    def factory():
        raise OSError("no such bundle")

    with TestClient(create_app(factory, TOKEN, admin_token=ADMIN_TOKEN, loader=load_fake)) as c:
        for _ in range(200):
            if c.get("/v1/health").json()["error"]:
                break
            threading.Event().wait(0.02)
        r = swap(c, fake_bundle(tmp_path, "2"))
        assert r.status_code == 200 and r.json()["previous"] is None
        health = c.get("/v1/health").json()
        assert health["ready"] is True and health["error"] is None and health["model"]["version"] == "2"
        assert draft_version(c) == "2"


def _body(endpoint: str, r) -> dict:
    if endpoint == "/v1/reports":
        return r.json()
    return json.loads(r.text.split("event: done\ndata: ")[1].split("\n")[0])


@pytest.mark.parametrize("endpoint", ["/v1/reports", "/v1/reports/stream"])
def test_drafts_in_flight_or_queued_during_a_swap_finish_on_the_old_model(tmp_path, endpoint):
    block = threading.Event()
    old = VersionedModel("1", block=block)
    app = create_app(old, TOKEN, admin_token=ADMIN_TOKEN, loader=load_fake)
    with TestClient(app) as c:
        results = {}

        def draft(key: str) -> None:
            req = {"image": raw_image(), "decoding": {"max_new_tokens": 200}}
            results[key] = c.post(endpoint, json=req, headers=AUTH)

        running = threading.Thread(target=draft, args=("running",))
        running.start()
        assert old.started.wait(10)
        queued = threading.Thread(target=draft, args=("queued",))
        queued.start()
        for _ in range(200):
            if c.get("/v1/health").json()["queue"]["waiting"] == 1:
                break
            threading.Event().wait(0.02)
        assert swap(c, fake_bundle(tmp_path, "2")).status_code == 200
        assert running.is_alive() and queued.is_alive()  # the swap happened mid-draft
        block.set()
        assert draft_version(c) == "2"
        running.join(30)
        queued.join(30)
    for key in ("running", "queued"):
        assert results[key].status_code == 200
        body = _body(endpoint, results[key])
        assert body["model"]["version"] == "1" and body["n_tokens"] == 200, key
