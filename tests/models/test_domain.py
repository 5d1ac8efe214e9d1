"""The domain gate: fitted on training features, thresholded on held-out ones, stored in a bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ml.contracts import Decoding
from ml.models.domain import DomainError, DomainGate, DomainMethod, fit_gate, threshold_for
from ml.types import Image


def _features(n: int, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    """(n, 8, 4, 4) feature maps: a shared pattern plus noise, ``shift`` moves every channel."""
    g = torch.Generator().manual_seed(seed)
    pattern = torch.linspace(-1, 1, 8 * 16, dtype=torch.float32).reshape(1, 8, 4, 4)
    return pattern + 0.1 * torch.randn(n, 8, 4, 4, generator=g) + shift


@pytest.mark.parametrize("method", [DomainMethod.MAHALANOBIS, DomainMethod.KNN])
def test_a_feature_gate_flags_images_far_from_its_training_features(method):
    gate = fit_gate(method, _features(200))
    logits = torch.zeros(50, 3)
    gate.threshold = threshold_for(gate.scores(_features(100, seed=1), logits[:1].expand(100, 3)), 0.01)
    near = gate.check(_features(50, seed=2), logits)
    far = gate.check(_features(50, shift=1.0, seed=3), logits)
    assert sum(c.in_domain for c in near) >= 45
    assert not any(c.in_domain for c in far)
    assert all(c.method == method.value and c.score > c.threshold for c in far)


def test_the_energy_gate_scores_confident_images_as_in_domain():
    gate = fit_gate("energy", _features(10))
    sure, unsure = torch.full((1, 3), 8.0), torch.full((1, 3), -8.0)
    feats = _features(1)
    assert float(gate.scores(feats, sure)) < float(gate.scores(feats, unsure))


def test_the_threshold_flags_at_most_the_allowed_share_of_heldout_images():
    scores = torch.arange(200, dtype=torch.float32)
    t = threshold_for(scores, 0.01)
    assert int((scores > t).sum()) == 2
    assert int((scores > threshold_for(scores, 0.0)).sum()) == 0
    with pytest.raises(DomainError):
        threshold_for(torch.zeros(0), 0.01)


def test_a_gate_needs_more_training_images_than_neighbours():
    with pytest.raises(DomainError, match="training images"):
        fit_gate("mahalanobis", _features(3))


def test_a_gate_survives_a_save_and_load_round_trip(tmp_path):
    gate = fit_gate("knn", _features(40))
    gate.threshold = 2.5
    entry = gate.save(tmp_path)
    back = DomainGate.load(tmp_path, json.loads(json.dumps(entry)))
    feats, logits = _features(5, shift=0.3, seed=9), torch.zeros(5, 3)
    assert back.method is DomainMethod.KNN and back.threshold == 2.5
    assert torch.allclose(back.scores(feats, logits), gate.scores(feats, logits))
    (tmp_path / entry["file"]).unlink()
    with pytest.raises(DomainError, match="missing"):
        DomainGate.load(tmp_path, entry)
    with pytest.raises(DomainError, match="method"):
        DomainGate.load(tmp_path, {"method": "guess", "threshold": 1})


def _render(seed: int) -> Image:
    """A smooth chest-like render: a bright mediastinum between two darker lung fields."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:96] / 96.0
    lungs = np.exp(-(((x - 0.3) ** 2) + (y - 0.5) ** 2) / 0.05) + np.exp(-(((x - 0.7) ** 2) + (y - 0.5) ** 2) / 0.05)
    pixels = 800 - 500 * lungs + rng.normal(0, 10, lungs.shape) + 40 * rng.uniform() * x
    return Image(pixels=pixels.astype(np.float32))


def test_a_bundle_without_a_gate_says_so_and_one_with_a_gate_flags_a_stranger(tmp_path, tiny_net):
    from ml.models.bundle import base_identity, load_bundle, read_manifest, save_bundle, write_domain
    from ml.models.calibration import Calibration
    from ml.models.gaze2report import preprocess

    out = save_bundle(tiny_net, tmp_path / "b", base_identity("tiny"))
    old = load_bundle(out)  # a manifest from before the gate: loads, and guesses nothing
    decoding = Decoding(max_new_tokens=4, known_words=False, redraft=0)
    assert old.generate(_render(0), decoding=decoding).domain is None
    assert old.check_domain(_render(0)) is None

    encoder = old.net.encoder
    size = encoder.cfg.image_size
    with torch.no_grad():
        train = encoder.features(torch.cat([preprocess(_render(s), size) for s in range(1, 41)]))
        held = encoder.features(torch.cat([preprocess(_render(s), size) for s in range(41, 61)]))
    gate = fit_gate("mahalanobis", train)
    gate.threshold = threshold_for(gate.scores(held, encoder.heads(held)[0]), 0.01)
    n = encoder.cfg.n_labels
    write_domain(out, gate, Calibration([0.5] * n, [0.0] * n, [0.1] * n), {"seed": 0})
    manifest = read_manifest(out)
    assert manifest["domain_gate"]["method"] == "mahalanobis" and "domain.safetensors" in manifest["files"]
    assert set(manifest["calibration"]["scale"].values()) == {0.5}

    model = load_bundle(out)
    inside = model.generate(_render(100), decoding=decoding).domain
    noise = Image(pixels=np.random.default_rng(5).uniform(0, 1000, (96, 96)).astype(np.float32))
    outside = model.generate(noise, decoding=decoding).domain
    assert inside.in_domain and inside.method == "mahalanobis" and inside.threshold == pytest.approx(gate.threshold, abs=1e-3)
    assert not outside.in_domain and outside.score > outside.threshold
    assert model.check_domain(noise) == outside
