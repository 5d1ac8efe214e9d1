"""The CheXpert-style labeler: mentions, negation, uncertainty, aggregation, No Finding."""

from __future__ import annotations

import pytest

from ml.metrics.labeler import Labeler, label_report, label_reports, labeler_sentences
from ml.metrics.mesh_map import labels_from_mesh, observations_for_term
from ml.types import CHEXPERT_OBSERVATIONS


def test_every_observation_is_reported_with_chexpert_spelling():
    labels = label_report("The lungs are clear.")
    assert tuple(labels) == CHEXPERT_OBSERVATIONS
    assert set(labels.values()) <= {1, 0, -1, None}


@pytest.mark.parametrize(
    ("text", "observation", "expected"),
    [
        ("Small right pleural effusion.", "Pleural Effusion", 1),
        ("No pleural effusion.", "Pleural Effusion", 0),
        ("There is no focal consolidation, pleural effusion, or pneumothorax.", "Pneumothorax", 0),
        ("There is no focal consolidation, pleural effusion, or pneumothorax.", "Consolidation", 0),
        (
            "Lungs are clear without focal consolidation, large pleural effusion, or pneumothorax.",
            "Pleural Effusion",
            0,
        ),
        ("Possible small left pleural effusion.", "Pleural Effusion", -1),
        ("Pneumonia cannot be excluded.", "Pneumonia", -1),
        ("Cannot exclude early pneumonia.", "Pneumonia", -1),
        ("Left basilar opacity which may represent atelectasis.", "Atelectasis", -1),
        ("Left basilar opacity which may represent atelectasis.", "Lung Opacity", 1),
        ("No significant change in the right pneumothorax.", "Pneumothorax", 1),
        ("The previously seen pneumothorax has resolved.", "Pneumothorax", 0),
        ("Pneumothorax is no longer seen.", "Pneumothorax", 0),
        ("No pneumothorax. Moderate right pleural effusion.", "Pleural Effusion", 1),
        ("No pneumothorax but there is a small left pleural effusion.", "Pleural Effusion", 1),
        ("Right apical pneumothorax.", "Pneumothorax", 1),
        ("Moderate pericardial effusion.", "Pleural Effusion", None),
        ("Mass effect on the trachea.", "Lung Lesion", None),
        ("Spiculated right upper lobe mass.", "Lung Lesion", 1),
        ("Old healed left rib fractures.", "Fracture", 1),
        ("No acute displaced rib fracture.", "Fracture", 0),
        ("Left subclavian central venous catheter tip in the SVC.", "Support Devices", 1),
        ("Dual-lead pacemaker in place.", "Support Devices", 1),
        ("Mild pulmonary vascular congestion.", "Edema", 1),
        ("No pulmonary edema.", "Edema", 0),
        ("Biapical pleural thickening.", "Pleural Other", 1),
        ("Right lower lobe airspace consolidation.", "Consolidation", 1),
        ("Streaky bibasilar atelectasis.", "Atelectasis", 1),
        ("Widened mediastinum.", "Enlarged Cardiomediastinum", 1),
        ("The cardiomediastinal silhouette is within normal limits.", "Enlarged Cardiomediastinum", 0),
    ],
)
def test_mentions_negation_and_uncertainty(text, observation, expected):
    assert label_report(text)[observation] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Heart size is normal.", 0),
        ("Normal heart size.", 0),
        ("The heart is not enlarged.", 0),
        ("Heart size is at the upper limits of normal.", 0),
        ("The heart is mildly enlarged.", 1),
        ("Enlarged cardiac silhouette.", 1),
        ("Mild cardiomegaly.", 1),
        ("Stable cardiomegaly.", 1),
        ("Borderline cardiomegaly.", 1),
        ("No cardiomegaly.", 0),
        ("The heart may be mildly enlarged.", -1),
        ("Lungs are clear.", None),
    ],
)
def test_heart_size_statements(text, expected):
    assert label_report(text)["Cardiomegaly"] == expected


def test_aggregation_prefers_positive_then_uncertain_then_negative():
    text = "No pleural effusion on the left. Small right pleural effusion. Possible effusion."
    assert label_report(text)["Pleural Effusion"] == 1
    assert label_report("No effusion. Possible effusion.")["Pleural Effusion"] == -1


def test_no_finding_follows_chexpert():
    normal = label_report("Heart size normal. Lungs are clear. No effusion or pneumothorax.")
    assert normal["No Finding"] == 1
    # support devices do not cancel No Finding
    assert label_report("Pacemaker in place. Lungs are clear.")["No Finding"] == 1
    # an uncertain pathology does
    assert label_report("Possible small effusion.")["No Finding"] is None
    assert label_report("Right lower lobe pneumonia.")["No Finding"] is None
    assert label_report("")["No Finding"] is None


def test_iu_deidentification_marks_do_not_break_scope():
    text = "There are no XXXX of a pleural effusion. Normal chest x-XXXX."
    labels = label_report(text)
    assert labels["Pleural Effusion"] == 0
    assert labels["No Finding"] == 1


def test_mentions_carry_offsets_and_sentences():
    mentions = Labeler().mentions("Heart size normal. Small left effusion.")
    effusion = [m for m in mentions if m.observation == "Pleural Effusion"]
    assert len(effusion) == 1 and effusion[0].sentence == 1 and effusion[0].text == "effusion"
    assert effusion[0].status == 1


def test_sentence_split_handles_numbered_impressions():
    assert labeler_sentences("1. Cardiomegaly 2. small effusion") == ["cardiomegaly", "small effusion"]


def test_label_reports_batch_matches_single():
    texts = ["No effusion.", "Small effusion.", ""]
    assert label_reports(texts) == [label_report(t) for t in texts]


def test_mesh_mapping():
    assert observations_for_term("Pleural Effusion/right/small") == {"Pleural Effusion"}
    assert observations_for_term("Cardiac Shadow/enlarged/mild") == {"Cardiomegaly"}
    assert observations_for_term("Cardiac Shadow/irregular") == set()
    assert observations_for_term("Hydropneumothorax/right") == {"Pneumothorax", "Pleural Effusion"}
    assert observations_for_term("Opacity/lung/base/left") == {"Lung Opacity"}
    assert observations_for_term("Opacity/ribs/left") == set()
    assert observations_for_term("Thickening/pleura/apex") == {"Pleural Other"}
    assert observations_for_term("Thickening/bronchi") == set()
    assert observations_for_term("Calcified Granuloma/lung/upper lobe/left") == set()
    labels = labels_from_mesh(["Catheters, Indwelling/right"])
    assert labels["Support Devices"] == 1 and labels["No Finding"] == 1
    assert labels_from_mesh(["Pneumothorax/apex/right"])["No Finding"] == 0


def test_agreement_counts_and_conventions():
    from ml.metrics.validate_labeler import agreement
    from ml.types import Study

    studies = [
        Study(id="1", labels=labels_from_mesh(["Pleural Effusion/right"])),
        Study(id="2", labels=labels_from_mesh(["normal"])),
        Study(id="3", labels=labels_from_mesh(["Pleural Effusion/left"])),
    ]
    preds = [
        label_report("Small right effusion."),
        label_report("No effusion."),
        label_report("Possible effusion."),
    ]
    strict = {a.observation: a for a in agreement(studies, preds, uncertain_positive=False)}
    lenient = {a.observation: a for a in agreement(studies, preds, uncertain_positive=True)}
    pe = strict["Pleural Effusion"]
    assert (pe.tp, pe.fp, pe.fn, pe.tn) == (1, 0, 1, 1)
    assert pe.precision == 1.0 and pe.recall == 0.5 and abs(pe.f1 - 2 / 3) < 1e-9
    assert (lenient["Pleural Effusion"].tp, lenient["Pleural Effusion"].fn) == (2, 0)


def test_validation_refuses_to_list_held_out_errors(capsys):
    from ml.metrics.validate_labeler import main

    assert main(["--split", "odd", "--errors", "Pneumothorax"]) == 2
    assert "held out" in capsys.readouterr().err


def test_trigger_shortcut_changes_nothing_on_examples():
    texts = [
        "Left chest XXXX with tip in the SVC. VP shunt tubing. Hydropneumothorax on the right.",
        "Enlarged cardiomediastinal silhouette. Fissural thickening. No acute fracture.",
        "Mild pulmonary vascular congestion and interstitial edema. Calcified granuloma.",
    ]
    fast, full = Labeler(use_triggers=True), Labeler(use_triggers=False)
    for t in texts:
        assert fast.mentions(t) == full.mentions(t)


@pytest.mark.slow
def test_trigger_shortcut_changes_nothing_on_the_iu_reports():
    from ml import assets
    from ml.datasets.iu_xray import load_reports

    if not assets.is_fetched("iu_reports"):
        pytest.skip("iu_reports asset not fetched")
    texts = [f"{s.report.findings}\n{s.report.impression}" for s in load_reports()]
    fast, full = Labeler(use_triggers=True), Labeler(use_triggers=False)
    for t in texts:
        assert fast.mentions(t) == full.mentions(t), t


@pytest.mark.parametrize(
    ("text", "cardiomegaly", "mediastinum"),
    [
        ("No enlarged heart.", 0, None),
        ("Possibly enlarged heart.", -1, None),
        ("Prominent mediastinum.", None, 1),
        ("The mediastinum appears somewhat prominent.", None, 1),
        ("No prominent mediastinum.", None, 0),
        ("The heart is prominent.", -1, None),
        ("Right paratracheal prominence.", None, 1),
    ],
)
def test_prefix_and_prominence_attributes(text, cardiomegaly, mediastinum):
    labels = label_report(text)
    assert labels["Cardiomegaly"] == cardiomegaly
    assert labels["Enlarged Cardiomediastinum"] == mediastinum
