"""Report review: versions in the database, edit/save/sign (lock), labeler chips, exports, worklist."""

from __future__ import annotations

import json

import pytest

from app.report.export import draft_final_pair
from app.report.versions import diff_html
from tests.app.test_thin_path import make_window


@pytest.fixture
def drafted(qtbot, fake_backend, png_path):
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    qtbot.waitUntil(lambda: bool(win.reading.labels), timeout=10000)
    return win


def versions(win):
    return win.store.run_sync(lambda store: store.report_versions(win.current.id))


def test_draft_is_stored_as_model_version_and_labeled(drafted, qtbot):
    win = drafted
    vs = versions(win)
    assert [v.origin for v in vs] == ["model"]
    assert vs[0].bundle_id.startswith("fake-bundle") and vs[0].scanpath_source == "predicted"
    assert win.reading.labels["Cardiomegaly"] == 1 and win.reading.labels["Pneumothorax"] == 0
    chip_names = [w.text() for w in win.report.chips.widgets]
    assert "Cardiomegaly" in chip_names and "Pneumothorax" in chip_names
    qtbot.waitUntil(lambda: "draft ready" in win.worklist.list.item(0).text(), timeout=5000)


def test_the_image_models_findings_show_beside_the_draft_and_those_left_out_are_flagged(drafted):
    win = drafted
    assert [f.label for f in win.draft.findings] == ["Cardiomegaly", "Lung Lesion"]
    text = win.report.suspected.text()
    assert "cardiomegaly 91%" in text and "⚠ cardiomegaly" not in text
    assert "⚠ lung lesion (left upper) 55% — not in the draft" in text
    win.report.set_suspected([])
    assert win.report.suspected.text() == ""


def test_a_redraft_replaces_the_streamed_first_draft_and_says_so(qtbot, fake_backend, png_path):
    fake_backend.redraft = "FINDINGS: Mild cardiomegaly. A left upper lobe nodule.\n\nIMPRESSION: Nodule."
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    assert win.draft.redrafted
    assert win.report.editor.findings.toPlainText() == "Mild cardiomegaly. A left upper lobe nodule."
    assert win.report.editor.impression.toPlainText() == "Nodule."
    assert "redrafted to agree with the image model" in win.report.state.text()


def test_edit_save_sign_locks_and_keeps_every_version(drafted, qtbot):
    win = drafted
    win.report.editor.impression.setPlainText("Mild cardiomegaly. Small right effusion.")
    assert win.reading.dirty
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.save()
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    assert win.reading.signed and win.report.editor.impression.isReadOnly()
    assert not win.report.sign_btn.isEnabled()
    vs = versions(win)
    assert [v.origin for v in vs] == ["model", "human", "signed"]
    assert vs[-1].author == win.settings.user_name
    assert "Mild cardiomegaly" in vs[-1].text
    win.report.editor.impression.setPlainText("changed after signing")  # read-only in the UI; API ignores too
    win.review.save()
    assert len(versions(win)) == 3
    pair = draft_final_pair(win.current.id, vs)
    assert pair["signed"] and pair["edited"] and pair["scanpath_source"] == "predicted"
    qtbot.waitUntil(lambda: "signed" in win.worklist.list.item(0).text(), timeout=5000)


def test_reopening_a_signed_study_shows_it_locked_without_redrafting(drafted, qtbot, fake_backend, png_path):
    win = drafted
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    n_requests = len(fake_backend.requests)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=5000):
        win.open_study(win.studies[0])
    qtbot.waitUntil(lambda: win.reading.signed, timeout=5000)
    assert win.report.editor.findings.isReadOnly()
    assert len(fake_backend.requests) == n_requests


def test_exports_text_json_pairs_and_sr(drafted, qtbot, tmp_path):
    win = drafted
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    for kind, name in (("txt", "r.txt"), ("json", "r.json"), ("pairs", "p.jsonl"), ("sr", "r.dcm")):
        with qtbot.waitSignal(win.exports.exported, timeout=20000) as blocker:
            win.exports.export(kind, str(tmp_path / name))
        assert blocker.args[0] == kind, blocker.args
    assert "IMPRESSION: Cardiomegaly" in (tmp_path / "r.txt").read_text()
    data = json.loads((tmp_path / "r.json").read_text())
    assert [v["origin"] for v in data["versions"]] == ["model", "signed"] and data["labels"][
        "Cardiomegaly"
    ] == 1
    pairs = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(pairs) == 1 and pairs[0]["signed"] and not pairs[0]["edited"]
    from app.report.sr import read_back

    back = read_back(tmp_path / "r.dcm")
    assert back["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert back["verification"] == "VERIFIED" and back["texts"]["Impression"].startswith("Cardiomegaly")
    assert len(back["evidence_uids"]) == 1  # the radiograph, written as DICOM evidence for a PNG study


def test_diff_marks_insertions_and_deletions():
    html = diff_html("small right effusion", "large right effusion")
    assert "line-through" in html and "small" in html and "large" in html


def test_worklist_next_previous(qtbot, fake_backend, png_path, dicom_path):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(png_path), str(dicom_path)])
    assert win.current.id == "case1"
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.step_study(1)
    assert win.current.id == "case2" and win.worklist.list.currentRow() == 1
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.step_study(-1)
    assert win.current.id == "case1"


def test_parse_report_accepts_what_models_write():
    from app.report.editor import parse_report

    assert parse_report("FINDINGS: Heart enlarged. IMPRESSION: Cardiomegaly.").impression == "Cardiomegaly."
    r = parse_report("Findings:\nSmall effusion.\n\nImpressions:\nEffusion.")
    assert (r.findings, r.impression) == ("Small effusion.", "Effusion.")
    assert parse_report("There are no findings: clear lungs.").impression == ""


@pytest.mark.parametrize("fixture", ["png_path", "dicom_path"])
def test_the_sr_of_an_addendum_names_the_signed_sr_it_amends(fixture, request, tmp_path):
    from app.report.sr import read_back, report_sr
    from ml.contracts import DomainCheck
    from ml.imaging import load_image
    from ml.types import Report

    image = load_image(request.getfixturevalue(fixture))
    signed = read_back(
        report_sr(image, Report("Heart enlarged.", "Cardiomegaly."), tmp_path / "v3.dcm", "Dr A", True, version_id=3)
    )
    again = read_back(
        report_sr(image, Report("Heart enlarged.", "Cardiomegaly."), tmp_path / "v3b.dcm", "Dr A", True, version_id=3)
    )
    assert again["sop_instance_uid"] == signed["sop_instance_uid"]  # one version, one SR instance
    addendum = read_back(
        report_sr(
            image,
            Report("Heart enlarged. Small right effusion.", "Cardiomegaly, effusion."),
            tmp_path / "v4.dcm",
            "Dr A",
            True,
            version_id=4,
            amends_id=3,
            domain=DomainCheck(False, 3.1, 2.0, "mahalanobis"),
        )
    )
    assert addendum["predecessors"] == [signed["sop_instance_uid"]]
    assert addendum["study_uid"] == signed["study_uid"] and addendum["sop_instance_uid"] != signed["sop_instance_uid"]
    assert (addendum["completion"], addendum["verification"]) == ("COMPLETE", "VERIFIED")
    assert addendum["texts"]["Finding"] == "Heart enlarged. Small right effusion."
    assert addendum["texts"]["Image domain check"].startswith("OUT OF DOMAIN")
    assert signed["predecessors"] == []


def test_the_sr_preview_cuts_long_text_between_words():
    from app.dialogs import shorten

    text = "Moderate right pleural effusion with adjacent atelectasis and a left upper lobe nodule."
    cut = shorten(text, 40)
    assert len(cut) <= 40 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "  # the cut falls on a space, not mid-word
    assert shorten("Short text.", 40) == "Short text."
