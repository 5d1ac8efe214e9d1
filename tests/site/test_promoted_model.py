"""A backend serving a models folder switches to a promoted bundle without a restart: a draft that
started on the old model finishes on it, and a bundle that fails to load leaves the old one serving."""

from __future__ import annotations

import json
import threading

import pytest

from ml.models.promoted import PromotedModel
from ml.site import ModelRegistry, RegistryError


class FakeModel:
    def __init__(self, path):
        self.version = json.loads((path / "manifest.json").read_text())["version"]
        self.started, self.release = threading.Event(), threading.Event()

    def info(self):
        return {"version": self.version}

    def generate(self, image, **kwargs):
        self.started.set()
        self.release.wait(5)
        return f"draft by {self.version}"


def _fake_loader(path, device="cpu"):
    if (path / "broken").exists():
        raise RuntimeError("weights do not match the config")
    return FakeModel(path)


def _add(registry, tmp_path, version, broken=False):
    folder = tmp_path / "src" / version
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": "g2r", "version": version}))
    if broken:
        (folder / "broken").write_text("")
    return registry.add(folder, origin="refresh", gate={"passed": True, "reason": "ok"})


def test_an_in_flight_draft_finishes_on_the_model_it_started_with(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    _add(registry, tmp_path, "1")
    _add(registry, tmp_path, "2")
    serving = PromotedModel(tmp_path / "models", check_every=0, loader=_fake_loader)
    old = serving.model()
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("draft", serving.generate(None)))
    worker.start()
    assert old.started.wait(5)
    registry.promote("g2r-2")
    assert serving.info()["version"] == "2" and serving.bundle_id == "g2r-2"
    old.release.set()
    worker.join(5)
    assert result["draft"] == "draft by 1"


def test_a_bundle_that_fails_to_load_leaves_the_old_one_serving(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    _add(registry, tmp_path, "1")
    _add(registry, tmp_path, "2", broken=True)
    serving = PromotedModel(tmp_path / "models", check_every=0, loader=_fake_loader)
    registry.promote("g2r-2")
    assert serving.info()["version"] == "1" and "weights do not match" in serving.last_error


def test_the_registry_is_read_at_most_every_check_interval(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    _add(registry, tmp_path, "1")
    _add(registry, tmp_path, "2")
    serving = PromotedModel(tmp_path / "models", check_every=3600, loader=_fake_loader)
    registry.promote("g2r-2")
    assert serving.info()["version"] == "1"
    assert serving.reload_if_changed() and serving.info()["version"] == "2"


def test_a_folder_without_a_current_bundle_is_refused(tmp_path):
    with pytest.raises(RegistryError, match="no current bundle"):
        PromotedModel(tmp_path / "empty", loader=_fake_loader)


def test_serve_models_serves_the_folders_current_bundle_through_the_backends_loader(tmp_path, monkeypatch):
    """``serve --models DIR``: the factory builds a PromotedModel whose loads go through the same
    loader as ``--bundle`` (fast CPU format, engine), and it passes the domain check through."""
    import ml.cli.serve as serve_cli

    registry = ModelRegistry(tmp_path / "models")
    _add(registry, tmp_path, "1.0")  # the first bundle added is the current one
    loads = []

    def fake_served(path, device, cpu_quant, engine):
        loads.append((path.name, device, cpu_quant, engine))
        model = FakeModel(path)
        model.check_domain = lambda image: f"checked by {model.version}"
        return model

    monkeypatch.setattr(serve_cli, "load_served_bundle", fake_served)
    served = serve_cli.make_factory(None, None, "cpu", "int4", "torch", tmp_path / "models")()
    assert isinstance(served, PromotedModel)
    assert served.info()["version"] == "1.0" and loads[0][1:] == ("cpu", "int4", "torch")
    assert served.check_domain(None) == "checked by 1.0"
