"""Clinical efficacy: micro / macro P/R/F1 over the 14 observations, hand-checked."""

from __future__ import annotations

import pytest

from ml.metrics.clinical import ClinicalInputError, clinical_efficacy, clinical_efficacy_from_text

REF = [{"Cardiomegaly": 1, "Pleural Effusion": 1}, {"No Finding": 1}]
GEN = [{"Cardiomegaly": 1, "Pleural Effusion": -1, "Pneumothorax": 1}, {"No Finding": 1, "Edema": 0}]


def test_micro_and_macro_by_hand():
    ce = clinical_efficacy(REF, GEN)
    # TP: Cardiomegaly, No Finding; FP: Pneumothorax; FN: Pleural Effusion (uncertain counts as negative)
    assert (ce.micro.tp, ce.micro.fp, ce.micro.fn) == (2, 1, 1)
    assert ce.micro.precision == pytest.approx(2 / 3)
    assert ce.micro.recall == pytest.approx(2 / 3)
    assert ce.micro.f1 == pytest.approx(2 / 3)
    # macro: only Cardiomegaly and No Finding score 1; the other 12 observations score 0
    assert ce.macro.precision == pytest.approx(2 / 14)
    assert ce.macro.f1 == pytest.approx(2 / 14)
    assert ce.per_observation["Pleural Effusion"].recall == 0.0
    assert ce.as_dict()["CE-F1"] == pytest.approx(2 / 3)
    assert ce.n == 2


def test_uncertain_as_positive():
    ce = clinical_efficacy(REF, GEN, uncertain="positive")
    assert (ce.micro.tp, ce.micro.fp, ce.micro.fn) == (3, 1, 0)
    assert ce.micro.f1 == pytest.approx(2 * 0.75 * 1.0 / 1.75)


def test_perfect_and_empty_generation():
    assert clinical_efficacy(REF, REF).micro.f1 == 1.0
    nothing = clinical_efficacy(REF, [{}, {}])
    assert nothing.micro.precision == 0.0 and nothing.micro.recall == 0.0 and nothing.micro.f1 == 0.0


def test_from_text_uses_the_labeler():
    ce = clinical_efficacy_from_text(
        ["Mild cardiomegaly. Small right pleural effusion.", "Heart size normal. Lungs clear."],
        ["Mild cardiomegaly. No pleural effusion.", "Normal heart size. Clear lungs."],
    )
    assert ce.per_observation["Cardiomegaly"].tp == 1
    assert ce.per_observation["Pleural Effusion"].fn == 1
    assert ce.per_observation["No Finding"].tp == 1


def test_bad_input():
    with pytest.raises(ClinicalInputError, match="2 reference"):
        clinical_efficacy(REF, GEN[:1])
    with pytest.raises(ClinicalInputError, match="uncertain"):
        clinical_efficacy(REF, GEN, uncertain="maybe")
