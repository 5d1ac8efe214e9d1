"""Harvesting what a site's databases can teach a model: only signed reports, only images that are
what was signed, only usable gaze, and every study or session left out counted with its reason."""

from __future__ import annotations

import math

import pytest

from ml.store import (
    SessionLeftOut,
    Store,
    StoreError,
    StudyLeftOut,
    file_sha256,
    harvest,
    harvest_store,
    validation_accuracy,
)
from ml.types import Finding, Fixation

FIX = [Fixation(10.0, 20.0, 0.0, 0.3, 3.1), Fixation(40.0, 50.0, 0.35, 0.6, 3.2)]  # NaN pupils never compare equal


def _validated(accuracy: float) -> dict:
    return {"kind": "validation", "binocular": {"accuracy_deg": accuracy}, "left": {}, "right": {}}


def _session(store, uid, reader, status, *, fixations=FIX, method="ivt", calibration=None):
    sid = store.create_session(uid, reader, source="tobii")
    if fixations:
        store.save_fixations(sid, fixations, method=method)
    if calibration is not None:
        store.set_calibration(sid, calibration)
    if status != "recording":
        store.finish_session(sid, status)
    return sid


def _image(tmp_path, name, content=b"radiograph bytes"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _sign(store, uid, image, text="FINDINGS: Clear.\n\nIMPRESSION: Normal.", reader="dr-a", sha=None):
    store.add_study(uid, image)
    store.add_report_version(uid, "draft", "model", "gaze2report", bundle_id="b-1", ai_context={"attention": [1.0]})
    return store.add_report_version(uid, text, "signed", reader, image_sha256=file_sha256(image) if sha is None else sha)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """Report versions stamped a minute apart (the store's stamps have one-second resolution)."""
    import itertools

    import ml.store.reports

    minutes = itertools.count()

    def now_iso() -> str:
        hours, minute = divmod(next(minutes), 60)
        return f"2026-01-01T{hours:02d}:{minute:02d}:00+00:00"

    monkeypatch.setattr(ml.store.reports, "now_iso", now_iso)


@pytest.fixture
def site(tmp_path):
    """One workstation's database with a study of every kind."""
    path = tmp_path / "ws1.sqlite"
    with Store(path) as store:
        a = _image(tmp_path, "a.dcm")
        signed = _sign(store, "A", a)
        store.add_report_version("A", "FINDINGS: Clear.\n\nIMPRESSION: Normal. Nodule.", "addendum", "dr-b",
                                 amends=signed.id, image_sha256=file_sha256(a))  # fmt: skip
        _session(store, "A", "dr-a", "completed", calibration=_validated(0.6))
        _session(store, "A", "dr-b", "interrupted", method="imported")
        _session(store, "A", "dr-c", "recording")
        _session(store, "A", "dr-c", "failed")
        _session(store, "A", "dr-d", "completed", calibration=_validated(2.5))
        _session(store, "A", "dr-d", "completed", fixations=[])
        store.add_annotation("A", Finding("Lung Lesion", 1, 2, 3, 4), reader="dr-b")
        store.add_study("B", _image(tmp_path, "b.png"))
        store.add_report_version("B", "draft", "model", "gaze2report", bundle_id="b-1")
        store.add_report_version("B", "edited, never signed", "human", "dr-a")
        _session(store, "B", "dr-a", "completed")
        _sign(store, "C", tmp_path / "gone.dcm", sha="")
        d = _image(tmp_path, "d.dcm")
        _sign(store, "D", d)
        d.write_bytes(b"another image now")
        _sign(store, "E", _image(tmp_path, "e.png", b"older signing"), sha="")  # signed before hashes
    return path


def test_only_signed_studies_with_the_signed_image_train_with_their_usable_gaze(site):
    with Store(site) as store:
        got = harvest_store(store, max_validation_deg=1.5)
    assert [h.study.uid for h in got.studies] == ["A", "E"]
    a = got.studies[0]
    assert a.report.origin == "addendum" and a.report.text.endswith("Nodule.") and a.reader == "dr-b"
    assert a.image_sha256 == file_sha256(a.study.image_path)
    assert [(s.session.reader, s.session.status, s.method) for s in a.sessions] == [
        ("dr-a", "completed", "ivt"),
        ("dr-b", "interrupted", "imported"),
    ]
    assert a.sessions[0].fixations == FIX and a.sessions[0].validation_deg == pytest.approx(0.6)
    assert [x.finding.label for x in a.annotations] == ["Lung Lesion"]
    assert got.left_out == {
        StudyLeftOut.UNSIGNED: ["B"],
        StudyLeftOut.IMAGE_MISSING: ["C"],
        StudyLeftOut.IMAGE_CHANGED: ["D"],
    }
    assert got.sessions_left_out == {
        SessionLeftOut.RECORDING: 1,
        SessionLeftOut.FAILED: 1,
        SessionLeftOut.POOR_VALIDATION: 1,
        SessionLeftOut.NO_FIXATIONS: 1,
    }
    assert got.unchecked == ["E"]
    summary = got.summary()
    assert summary.startswith("2 signed studies with 2 gaze sessions") and "1 image changed" in summary
    assert "1 poor validation" in summary and "1 images unchecked" in summary


def test_without_a_validation_limit_a_poorly_validated_session_trains(site):
    with Store(site) as store:
        got = harvest_store(store)
    assert len(got.studies[0].sessions) == 3 and SessionLeftOut.POOR_VALIDATION not in got.sessions_left_out


def test_a_reading_room_trains_each_study_once_from_its_newest_signing_with_all_its_gaze(site, tmp_path):
    other = tmp_path / "ws2.sqlite"
    with Store(other) as store:
        _sign(store, "A", tmp_path / "a.dcm", text="FINDINGS: Clear.\n\nIMPRESSION: Signed again.", reader="dr-z")
        _session(store, "A", "dr-z", "completed")
        _sign(store, "B", tmp_path / "b.png", reader="dr-z")
    got = harvest([site, other], max_validation_deg=1.5)
    assert [h.study.uid for h in got.studies] == ["E", "A", "B"]  # oldest signing first
    a = next(h for h in got.studies if h.study.uid == "A")
    assert a.reader == "dr-z" and a.db == str(other)
    assert sorted(s.session.reader for s in a.sessions) == ["dr-a", "dr-b", "dr-z"]
    assert {s.db for s in a.sessions} == {str(site), str(other)}
    assert StudyLeftOut.UNSIGNED not in got.left_out  # B is signed on the second workstation
    assert got.left_out[StudyLeftOut.IMAGE_MISSING] == ["C"]
    with Store(site) as store:  # harvesting only read the databases
        assert len(store.report_versions("A")) == 3


def test_an_empty_store_harvests_nothing_and_says_so(tmp_path):
    Store(tmp_path / "empty.sqlite").close()
    got = harvest([tmp_path / "empty.sqlite"])
    assert got.studies == [] and got.left_out == {} and got.summary() == "0 signed studies with 0 gaze sessions"
    with pytest.raises(StoreError, match="No database"):
        harvest([tmp_path / "missing.sqlite"])


def test_validation_accuracy_reads_either_stored_form_and_a_failed_validation_is_worst():
    assert validation_accuracy(None) is None and validation_accuracy({}) is None
    assert validation_accuracy(_validated(0.8)) == 0.8
    assert validation_accuracy({"validation": _validated(1.2), "calibration": None}) == 1.2
    assert validation_accuracy({"validation": None, "calibration": {"status": "ok"}}) is None
    assert validation_accuracy(_validated(math.nan)) == math.inf
