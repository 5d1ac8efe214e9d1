"""Report writer: mentions match the ground truth, negatives never contradict it, phrasing varies."""

from __future__ import annotations

import numpy as np
import pytest

from ml.cohort.build import plan
from ml.cohort.reports import N_STYLES, ReportFinding, text_statistics, write_report
from ml.types import Report

MAIN = {
    "nodule": "Lung Lesion", "mass": "Lung Lesion", "consolidation": "Consolidation", "effusion": "Pleural Effusion",
    "pneumothorax": "Pneumothorax", "cardiomegaly": "Cardiomegaly", "atelectasis": "Atelectasis", "edema": "Edema",
}  # fmt: skip


def _finding(kind: str, side: str = "right", subtle: bool = False) -> ReportFinding:
    loc = {
        "nodule": f"{side} upper lobe",
        "mass": f"{side} lower lobe",
        "consolidation": f"{side} middle lobe",
    }
    sev = "moderate" if kind not in ("effusion", "pneumothorax") else "small"
    return ReportFinding(kind, side if kind not in ("cardiomegaly", "edema") else "", loc.get(kind, f"{side} base"),
                         "", "upper", sev, subtle, 14.0 if kind == "nodule" else 42.0, 0.61)  # fmt: skip


def _random_findings(rng: np.random.Generator) -> list[ReportFinding]:
    kinds = rng.choice(list(MAIN), size=int(rng.integers(0, 4)), replace=False)
    out = []
    for k in kinds:
        subtle = bool(rng.random() < 0.3) and k in (
            "nodule",
            "consolidation",
            "effusion",
            "pneumothorax",
            "atelectasis",
        )
        out.append(_finding(str(k), str(rng.choice(["right", "left"])), subtle))
    return out


@pytest.mark.parametrize("kind", list(MAIN))
@pytest.mark.parametrize("side", ["right", "left"])
def test_laterality_and_location_match_the_ground_truth(kind, side):
    f = _finding(kind, side)
    for style in range(N_STYLES):
        report = write_report([f], style, np.random.default_rng(style))
        text = report.text.lower()
        assert report.findings and report.impression
        if f.side:
            other = "left" if side == "right" else "right"
            assert side in report.findings.lower() and side in report.impression.lower()
            assert other not in text, text
        if kind in ("nodule", "mass", "consolidation"):
            assert f.location in text


def test_normal_report_has_pertinent_negatives_and_a_normal_impression():
    report = write_report([], 0, np.random.default_rng(0))
    text = report.text.lower()
    assert "pneumothorax" in text and "effusion" in text
    assert "heart" in text or "cardiac" in text
    assert any(w in report.impression.lower() for w in ("no acute", "no active", "normal"))


def test_negatives_never_contradict_findings():
    rng = np.random.default_rng(3)
    for i in range(300):
        fs = _random_findings(rng)
        text = write_report(fs, i % N_STYLES, rng).text.lower()
        kinds = {f.kind for f in fs}
        if "effusion" in kinds:
            assert "no pleural effusion" not in text and "no pneumothorax or pleural effusion" not in text
        if "pneumothorax" in kinds:
            assert "no pneumothorax" not in text and "no evidence of pneumothorax" not in text
        if "cardiomegaly" in kinds:
            assert "normal in size" not in text and "normal heart size" not in text
        if kinds & {"consolidation", "edema"}:
            assert "lungs are clear" not in text and "no focal" not in text
        if kinds:
            assert "no acute cardiopulmonary" not in text


def test_the_project_labeler_reads_back_the_ground_truth():
    """The CheXpert-style rule labeler (ml.metrics.labeler) on our reports recovers each injected finding and nothing else."""
    from ml.metrics.labeler import label_report

    rng = np.random.default_rng(11)
    for i in range(250):
        fs = _random_findings(rng)
        labels = label_report(write_report(fs, i % N_STYLES, rng).text)
        present = {MAIN[f.kind] for f in fs}
        for obs in set(MAIN.values()):
            if obs in present:
                assert labels[obs] in (1, -1), (obs, fs)
            else:
                assert labels[obs] not in (1, -1), (obs, fs)
        assert (labels["No Finding"] == 1) == (not fs)


def test_consecutive_cases_never_share_a_template_and_all_styles_are_used():
    _, styles = plan(500, seed=4)
    assert all(a != b for a, b in zip(styles, styles[1:], strict=False))
    assert set(styles) == set(range(N_STYLES))


def test_phrasing_varies_and_reports_parse_back():
    rng = np.random.default_rng(0)
    texts = {write_report([_finding("effusion")], s, rng).text for s in range(N_STYLES) for _ in range(3)}
    assert len(texts) >= 8
    for t in texts:
        parsed = Report.parse(t)
        assert parsed.findings and parsed.impression


def test_text_statistics_counts_words():
    stats = text_statistics(["FINDINGS: The lungs are clear.", "IMPRESSION: No acute disease."])
    assert stats.n_reports == 2
    assert list(stats.lengths) == [5, 4]
    assert stats.vocabulary["lungs"] == 1


@pytest.mark.slow
def test_vocabulary_and_length_match_the_indiana_reports():
    from ml import assets
    from ml.cohort.reports import compare_to_iu

    if not assets.is_fetched("iu_reports"):
        pytest.skip("IU reports asset not fetched")
    rng = np.random.default_rng(8)
    texts = [write_report(_random_findings(rng), i % N_STYLES, rng).text for i in range(600)]
    check = compare_to_iu(texts)
    assert check["token_coverage"] >= 0.95, check["oov_words"]
    lo, _, hi = check["iu_length_percentiles"]
    assert lo <= check["length_percentiles"][1] <= hi
    assert check["distinct_reports"] >= 0.8 * len(texts)
