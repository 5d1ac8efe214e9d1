"""The shipped demo bundle's domain gate and calibration on the default case and on real radiographs.

The default case is a render like the demo's training images and must pass; every real radiograph
of the dev assets (an adult chest CR, a tibia CR, 16 paediatric chest films) must be flagged, and
its finding probabilities must not read as confident. Only the encoder is loaded (no LLM).
"""

from __future__ import annotations

import pytest
import torch

from ml import assets


@pytest.fixture(scope="module")
def demo():
    from ml.models.bundle import load_encoder, read_domain

    gate, calibration = read_domain(None)
    assert gate is not None and calibration is not None, "the demo bundle carries no domain gate"
    return load_encoder(None), gate, calibration


def _check(demo, path):
    from ml.imaging import load_image
    from ml.models.gaze2report import preprocess

    encoder, gate, calibration = demo
    with torch.no_grad():
        out = encoder(preprocess(load_image(path), encoder.cfg.image_size))
    check = gate.check(out.features, out.label_logits)[0]
    return check, calibration.probabilities(out.label_logits[0], check), torch.sigmoid(out.label_logits[0])


def test_the_default_case_is_in_the_demo_bundles_domain(demo):
    from ml.cohort.default_case import ensure_default_case

    if not assets.is_fetched("ct"):
        pytest.fail("assets not fetched: run `python main.py assets fetch`")
    check, shown, raw = _check(demo, ensure_default_case() / "image.dcm")
    assert check.in_domain and check.method == "mahalanobis", check
    assert torch.allclose(shown, demo[2].probabilities(torch.logit(raw.double()).float()), atol=1e-4)


def test_every_real_radiograph_is_flagged_and_none_reads_as_confident(demo):
    try:
        films = assets.dev_radiographs()
    except assets.AssetError as exc:
        pytest.skip(f"the real dev radiographs cannot be fetched here: {exc}")
    assert len(films) >= 5
    for film in films:
        check, shown, raw = _check(demo, film)
        assert not check.in_domain and check.score > check.threshold, (film.name, check)
        assert float(shown.max()) < 0.9, (film.name, shown)
