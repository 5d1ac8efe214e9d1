"""The demo bundle's default drafts on images unlike its training renders hold only known words and
both sections (slow: the real SmolLM2 and the real bundle; two drafts, each a greedy draft and a batch
of redrafts, take minutes on two CPU cores; the default case's render is drafted in test_demo_bundle)."""

from __future__ import annotations

import numpy as np
import pytest

from ml import assets

pytestmark = pytest.mark.slow


def _images():
    from ml.cohort.default_case import ensure_default_case
    from ml.imaging import load_image
    from ml.types import Image

    px = load_image(ensure_default_case() / "image.dcm").pixels.astype(np.float32)
    lo, hi = float(px.min()), float(px.max())
    rng = np.random.default_rng(0)
    return {
        "pure noise": Image(pixels=rng.uniform(lo, hi, (512, 512)).astype(np.uint16), bits_stored=12),
        "inverted render": Image(pixels=(hi + lo - px).astype(np.uint16), bits_stored=12),
    }


@pytest.mark.timeout(1200)
def test_default_drafts_write_only_known_words_and_both_sections():
    import torch

    from ml.contracts import Decoding
    from ml.models.bundle import load_bundle
    from ml.models.vocabulary import unknown_words
    from ml.types import Report

    if not (assets.is_fetched("llm") and assets.is_fetched("ct")):
        pytest.fail("assets not fetched: run `python main.py assets fetch`")
    torch.set_num_threads(2)
    drafter = load_bundle(None, device="cpu")
    words = drafter.net.known_words.words
    problems = []
    for kind, image in _images().items():
        draft = drafter.generate(image, None, Decoding())
        report = Report.parse(draft.text)
        bad = unknown_words(draft.text, words)
        if bad or not report.findings.strip() or not report.impression.strip():
            problems.append(f"{kind}: unknown {bad}, sections {bool(report.findings)}/{bool(report.impression)}: "
                            f"{draft.text!r}")
    assert not problems, "\n".join(problems)
