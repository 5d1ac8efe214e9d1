"""The shipped demo bundle on the app's default case (slow: the real SmolLM2 and the real bundle).

What a radiologist sees on first run: the draft must name the default case's injected pleural
effusion, on the patient's right, and its 20 mm left upper lobe nodule, on the left. The first
(greedy) draft of this CPU-trained report model leaves the nodule out; the redraft, a sampled
draft that agrees with the image model's findings, names it (``ml.models.redraft``). The predicted
scanpath must explore the image rather than sit on one spot.
"""

from __future__ import annotations

import re

import pytest

from ml import assets

pytestmark = pytest.mark.slow


def test_demo_bundle_drafts_the_default_case_findings():
    import torch

    from ml.cohort.default_case import ensure_default_case
    from ml.contracts import Decoding
    from ml.imaging import load_image
    from ml.metrics.labeler import label_report
    from ml.models.bundle import load_bundle

    if not (assets.is_fetched("llm") and assets.is_fetched("ct")):
        pytest.fail("assets not fetched: run `python main.py assets fetch`")
    image = load_image(ensure_default_case() / "image.dcm")
    drafter = load_bundle(None, device="cpu")
    draft = drafter.generate(image, None, Decoding(max_new_tokens=120), mode="predicted")
    labels = label_report(draft.text)
    assert labels["Pleural Effusion"] == 1 and labels["Lung Lesion"] == 1, draft.text
    sentences = re.split(r"(?<=\.)\s+", draft.text.lower())
    for words, side, other in (
        (("effusion",), "right", "left"),
        (("nodule", "mass", "lesion"), "left", "right"),
    ):
        said = [s for s in sentences if any(w in s for w in words)]
        assert said and all(side in s and other not in s for s in said), draft.text
    found = {f.label: f for f in draft.findings}
    assert found["Pleural Effusion"].place.startswith("right") and found["Pleural Effusion"].in_draft
    assert found["Lung Lesion"].place.startswith("left") and found["Lung Lesion"].in_draft, draft.findings
    xs = torch.tensor([f.x for f in draft.scanpath.fixations]) / image.width
    ys = torch.tensor([f.y for f in draft.scanpath.fixations]) / image.height
    assert len(xs) >= 4 and float(xs.std() + ys.std()) > 0.1, draft.scanpath
    assert len(draft.attention) == len(draft.scanpath.fixations)
