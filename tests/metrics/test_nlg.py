"""NLG metrics via pycocoevalcap on hand-checked pairs; METEOR skips cleanly without Java."""

from __future__ import annotations

import shutil

import pytest

from ml.metrics import nlg
from ml.metrics.nlg import METRICS, NLGInputError, clean_report, compute_nlg

pytest.importorskip("pycocoevalcap")


def test_clean_report_like_r2gen():
    text = "FINDINGS: The heart is normal.  1. No effusion. 2. Lungs clear!\nIMPRESSION: Normal (chest)."
    # sections become sentences; like R2Gen, only ". " splits sentences ("!" is just dropped)
    assert clean_report(text) == "the heart is normal . no effusion . lungs clear . normal chest ."
    assert clean_report("Lungs clear! Normal.") == "lungs clear normal ."
    assert clean_report("") == ""


def test_hand_checked_bleu_and_rouge():
    refs = ["the heart is normal", "no pleural effusion"]
    hyps = ["the heart is enlarged", "no pleural effusion"]
    r = compute_nlg(refs, hyps, clean=False, meteor=False)
    # pair 1: unigram precision 3/4, bigram 2/3, same length (no brevity penalty)
    assert r.per_report["BLEU-1"][0] == pytest.approx(0.75, abs=1e-6)
    assert r.per_report["BLEU-2"][0] == pytest.approx((0.75 * 2 / 3) ** 0.5, abs=1e-6)
    # corpus BLEU-1 pools the counts: (3 + 3) / (4 + 3)
    assert r.scores["BLEU-1"] == pytest.approx(6 / 7, abs=1e-6)
    # ROUGE-L, beta = 1.2: LCS 3 of 4 on both sides -> 0.75; identical pair -> 1
    assert r.per_report["ROUGE-L"] == pytest.approx([0.75, 1.0])
    assert r.scores["ROUGE-L"] == pytest.approx(0.875)
    assert r.scores["METEOR"] is None and "disabled" in r.skipped["METEOR"]
    assert list(r.scores) == list(METRICS)


def test_rouge_l_recall_weighting():
    r = compute_nlg(["the heart is normal"], ["heart normal"], clean=False, meteor=False)
    p, rec, beta2 = 1.0, 0.5, 1.2**2
    assert r.scores["ROUGE-L"] == pytest.approx((1 + beta2) * p * rec / (rec + beta2 * p))


def test_identical_reports_score_top_and_cider_uses_idf():
    refs = [
        "mild cardiomegaly . no effusion .",
        "clear lungs . normal heart size .",
        "small left pneumothorax .",
    ]
    r = compute_nlg(refs, refs, clean=False, meteor=False)
    for k in range(1, 5):
        assert r.scores[f"BLEU-{k}"] == pytest.approx(1.0, abs=1e-6)
    assert r.scores["ROUGE-L"] == pytest.approx(1.0)
    assert r.scores["CIDEr"] == pytest.approx(10.0, rel=1e-6)  # CIDEr-D is scaled by 10
    wrong = compute_nlg(refs, refs[1:] + refs[:1], clean=False, meteor=False)
    assert wrong.scores["CIDEr"] < 1.0 and wrong.scores["BLEU-4"] < 0.5


def test_meteor_skips_with_a_message_without_java(monkeypatch):
    monkeypatch.setattr(nlg.shutil, "which", lambda name: None)
    r = compute_nlg(["no effusion"], ["no effusion"])
    assert r.scores["METEOR"] is None
    assert "java" in r.skipped["METEOR"]


@pytest.mark.slow  # starts the METEOR JVM (seconds to tens of seconds on a loaded machine)
@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")
def test_meteor_with_java():
    r = compute_nlg(
        ["the heart is normal in size", "no pleural effusion"], ["the heart is normal in size", "big dog"]
    )
    assert r.per_report["METEOR"][0] > 0.9
    assert r.per_report["METEOR"][1] < 0.1
    assert 0.0 < r.scores["METEOR"] < 1.0
    again = compute_nlg(["no pleural effusion"], ["no pleural effusion"])  # reuses the running JVM
    assert again.scores["METEOR"] > 0.9
    nlg.close_meteor()


def test_empty_hypothesis_and_mismatch():
    r = compute_nlg(["no effusion ."], [""], meteor=False)
    assert r.scores["BLEU-1"] < 1e-6 and r.scores["ROUGE-L"] == 0.0
    with pytest.raises(NLGInputError):
        compute_nlg(["a"], ["a", "b"])
    with pytest.raises(NLGInputError):
        compute_nlg([], [])
