import json

import numpy as np
import pytest
import torch

from ml.contracts import Decoding
from ml.models.bundle import BundleError, base_identity, load_bundle, read_manifest, save_bundle
from ml.types import Image


def _image():
    return Image(pixels=np.random.default_rng(3).uniform(0, 1000, (70, 90)).astype(np.float32))


def test_round_trip_gives_the_same_drafts(tmp_path, tiny_net):
    # make the adapter non-trivial (fresh LoRA B is zero) so the round trip is a real check
    with torch.no_grad():
        for n, p in tiny_net.llm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    words = {"effusion", "pleural"}
    out = save_bundle(tiny_net, tmp_path / "b", base_identity("tiny"), metrics={"f1": 0.5}, words=words)
    manifest = read_manifest(out)
    assert manifest["base_model"]["name_or_path"] == "tiny" and len(manifest["base_model"]["sha256"]) == 64
    assert manifest["metrics"] == {"f1": 0.5}
    assert {"encoder.safetensors", "scanpath.safetensors", "gnn.safetensors", "projector.safetensors"} <= set(
        manifest["files"]
    )
    assert (out / "adapter" / "adapter_config.json").exists()
    assert not (out / "adapter" / "README.md").exists()  # no model card with the build machine's paths

    from ml.models.gaze2report import Gaze2ReportDrafter

    raw = Decoding(max_new_tokens=10, known_words=False)  # tiny_net has no words; the bundle does
    before = Gaze2ReportDrafter(tiny_net, {}).generate(_image(), decoding=raw)
    loaded = load_bundle(out)
    after = loaded.generate(_image(), decoding=raw)
    assert "vocabulary.txt" in manifest["files"] and words <= loaded.net.known_words.words
    assert after.text == before.text
    assert [f.x for f in after.scanpath.fixations] == pytest.approx([f.x for f in before.scanpath.fixations])
    assert loaded.info()["name"] == manifest["name"] and loaded.info()["untrained"] is False


def test_base_model_hash_mismatch_is_refused(tmp_path, tiny_net):
    out = save_bundle(tiny_net, tmp_path / "b", base_identity("tiny"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["base_model"]["sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(out)
    assert load_bundle(out, verify=False).info()["name"]


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="manifest"):
        load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 99}')
    with pytest.raises(BundleError, match="format"):
        load_bundle(tmp_path)
