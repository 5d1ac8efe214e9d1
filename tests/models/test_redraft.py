"""Redrafting: a draft that leaves out or misplaces the image model's findings is replaced by the
sampled draft that agrees best; the first draft wins ties, and nothing is written for the model."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ml.contracts import Decoding, EncoderFinding
from ml.models.gaze2report import Gaze2ReportDrafter
from ml.models.redraft import agreement, best, well_formed
from ml.types import Image

LIKELY = [
    EncoderFinding("Lung Lesion", 0.55, "left upper"),
    EncoderFinding("Pleural Effusion", 0.99, "right lower"),
]
FIRST = "FINDINGS: Small right pleural effusion. No pneumothorax.\n\nIMPRESSION: Right pleural effusion."
BOTH = (
    "FINDINGS: Small right pleural effusion. A 2 cm nodule in the left upper lobe.\n\n"
    "IMPRESSION: Right pleural effusion. Left upper lobe nodule."
)
WRONG_SIDE = (
    "FINDINGS: Small right pleural effusion. A 2 cm nodule in the right upper lobe.\n\n"
    "IMPRESSION: Right pleural effusion. Right upper lobe nodule."
)


def test_agreement_reads_named_missed_extra_wrong_side_and_hedged_findings():
    a = agreement(FIRST, LIKELY)
    assert (a.named, a.missed, a.extra, a.wrong_side) == ({"Pleural Effusion"}, {"Lung Lesion"}, set(), set())
    assert not a.complete and a.score == (1, 0)
    b = agreement(BOTH, LIKELY)
    assert b.complete and b.score == (2, 0)
    w = agreement(WRONG_SIDE, LIKELY)
    assert w.wrong_side == {"Lung Lesion"} and w.score == (1, 0)
    # a draft that puts the effusion right, then left, contradicts itself: wrong side
    assert agreement(BOTH.replace("IMPRESSION: Right", "IMPRESSION: Left"), LIKELY).wrong_side == {
        "Pleural Effusion"
    }
    x = agreement(BOTH + " Cardiomegaly. Possible pneumonia.", LIKELY)
    assert x.extra == {"Cardiomegaly"} and x.hedged == {"Pneumonia"} and x.score == (1, -1)
    # a finding without a side cannot be on the wrong one; "no nodule" does not name it
    assert agreement(
        "FINDINGS: Nodule on the right. IMPRESSION: Nodule.", [EncoderFinding("Lung Lesion", 0.6)]
    ).complete
    assert agreement("FINDINGS: No nodule. IMPRESSION: Normal.", LIKELY).missed == {
        "Lung Lesion",
        "Pleural Effusion",
    }
    assert agreement("FINDINGS: Clear lungs. IMPRESSION: Normal.", []).complete


def test_best_prefers_agreement_and_the_earliest_on_ties():
    assert best([FIRST, WRONG_SIDE, BOTH], LIKELY) == 2
    assert best([FIRST, WRONG_SIDE], LIKELY) == 0  # no better than the first draft: keep it
    assert best([BOTH, BOTH + " Cardiomegaly."], LIKELY) == 0


def test_well_formed_needs_both_sections_and_clean_text():
    assert well_formed(BOTH)
    assert not well_formed("FINDINGS: Small right pleural effusion.")
    assert not well_formed(BOTH + " pleuro\ufffd")


def _image() -> Image:
    return Image(pixels=np.random.default_rng(0).uniform(0, 1000, (64, 80)).astype(np.float32))


def _scripted(net, monkeypatch, first: str, samples: list[tuple[str, bool]]) -> list[int]:
    """Make the encoder find ``LIKELY``, the first draft ``first`` and the sampled drafts ``samples``
    (text, ended); returns the list that counts sampling calls."""
    tok = net.tokenizer
    calls: list[int] = []
    monkeypatch.setattr(net, "generate_ids", lambda *a, **k: tok(first, add_special_tokens=False).input_ids)
    monkeypatch.setattr(net, "likely_findings", lambda *a: [dataclasses.replace(f) for f in LIKELY])

    def sample_ids(prompt, decoding, n, temperature, should_stop=None):
        calls.append(n)
        return [(tok(t, add_special_tokens=False).input_ids, ended) for t, ended in samples]

    monkeypatch.setattr(net, "sample_ids", sample_ids)
    return calls


def test_a_draft_missing_a_likely_finding_is_replaced_by_the_best_ended_redraft(tiny_net, monkeypatch):
    net = tiny_net.eval()
    assert net.tokenizer.decode(net.tokenizer(BOTH, add_special_tokens=False).input_ids) == BOTH
    unended = BOTH.replace("2 cm", "3 cm")  # agrees as well, but ran out of tokens
    calls = _scripted(net, monkeypatch, FIRST, [(FIRST, True), (unended, False), (BOTH, True)])
    draft = Gaze2ReportDrafter(net, {"name": "t"}).generate(_image(), decoding=Decoding(redraft=3))
    assert calls == [3]
    assert draft.redrafted and draft.text == BOTH
    assert all(f.in_draft for f in draft.findings)  # the findings are read from the kept draft
    # no redraft asked for, or none better: the first draft stays
    off = Gaze2ReportDrafter(net, {"name": "t"}).generate(_image(), decoding=Decoding(redraft=0))
    assert not off.redrafted and off.text == FIRST and calls == [3]
    _scripted(net, monkeypatch, FIRST, [(WRONG_SIDE, True), (BOTH.replace("IMPRESSION", "IMP"), True)])
    kept = Gaze2ReportDrafter(net, {"name": "t"}).generate(_image(), decoding=Decoding())
    assert not kept.redrafted and kept.text == FIRST


def test_a_draft_that_already_agrees_is_not_redrafted(tiny_net, monkeypatch):
    net = tiny_net.eval()
    calls = _scripted(net, monkeypatch, BOTH, [(FIRST, True)])
    draft = Gaze2ReportDrafter(net, {"name": "t"}).generate(_image(), decoding=Decoding())
    assert calls == [] and not draft.redrafted and draft.text == BOTH


def test_sample_ids_draws_seeded_drafts_in_one_batch(tiny_net):
    net = tiny_net.eval()
    drafter = Gaze2ReportDrafter(net, {"name": "t"})
    feats = drafter._features(_image())
    prompt = net.prompt_embeds(feats, [None], [(80, 64)], ["image_only"])[0][0]
    dec = Decoding(max_new_tokens=6, no_repeat_ngram_size=0, repetition_penalty=1.0)
    a = net.sample_ids(prompt, dec, 4, temperature=1.0)
    assert len(a) == 4 and all(len(ids) <= 6 and isinstance(ended, bool) for ids, ended in a)
    assert net.sample_ids(prompt, dec, 4, temperature=1.0) == a  # the seed makes it reproducible
    assert len({tuple(ids) for ids, _ in a}) > 1  # and the drafts differ from each other


def test_sample_ids_tells_drafts_that_ended_from_those_cut_off(tiny_net, monkeypatch):
    net, eos = tiny_net.eval(), tiny_net.tokenizer.eos_token_id
    rows = torch.tensor([[5, 6, eos, eos], [5, 6, 7, 8]])  # ended (then padded) / ran out of tokens
    monkeypatch.setattr(net, "_decode", lambda *a, **k: rows)
    assert net.sample_ids(torch.zeros(3, 8), Decoding(), 2, temperature=0.7) == [
        ([5, 6], True),
        ([5, 6, 7, 8], False),
    ]
