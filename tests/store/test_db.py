"""The project database: repository functions, append-only report versions, clear errors."""

from __future__ import annotations

import math
import sqlite3
import threading

import pytest

from ml.store import (
    SCHEMA_VERSION,
    AnnotationShape,
    EventRecord,
    ReportOrigin,
    SessionStatus,
    Store,
    StoreError,
    StoreErrorKind,
    default_db_path,
)
from ml.types import Finding, Fixation, GazeSample, Report


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


def test_wal_and_schema(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    row = store.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert int(row[0]) == SCHEMA_VERSION


def test_reopen_keeps_data_and_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    with Store(path) as s:
        sid = s.add_study("case-1", "/img/1.dcm", dataset="cohort", split="test", metadata={"view": "PA"})
    with Store(path) as s:
        st = s.study("case-1")
        assert (st.id, st.image_path, st.split, st.metadata) == (sid, "/img/1.dcm", "test", {"view": "PA"})
        s.conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="newer Gaze2Report"):
        Store(path)


def test_studies_and_readers_are_get_or_create(store):
    a = store.add_study("case-1")
    assert store.add_study("case-1", "/elsewhere") == a  # existing rows are left alone
    assert store.study(a).image_path == ""
    assert [s.uid for s in store.studies()] == ["case-1"]
    r = store.reader_id("dr-a", role="radiologist")
    assert store.reader_id("dr-a") == r and store.readers()[0].role == "radiologist"
    with pytest.raises(StoreError, match="No reader"):
        store.reader_id("nobody", create=False)
    with pytest.raises(StoreError, match="No study"):
        store.study("missing")


def test_session_lifecycle_and_filters(store):
    s1 = store.create_session("case-1", "dr-a", source="mouse", geometry={"distance_mm": 650})
    s2 = store.create_session("case-2", "dr-b", source="tobii")
    store.append_samples(s1, [GazeSample(10, 1.0, 2.0), GazeSample(20, math.nan, math.nan, False)])
    store.finish_session(s1, "completed", dropped=3)
    rec = store.session(s1)
    assert (rec.status, rec.sample_count, rec.dropped_count, rec.t0_us) == ("completed", 2, 3, 10)
    assert rec.geometry == {"distance_mm": 650} and rec.ended_at
    assert [s.id for s in store.sessions(status="recording")] == [s2]
    assert [s.id for s in store.sessions(study="case-1")] == [s1]
    store.set_calibration(s2, {"validation": {"left": {"accuracy_deg": 0.4}}})
    assert store.session(s2).calibration["validation"]["left"]["accuracy_deg"] == 0.4
    with pytest.raises(StoreError, match="Cannot finish"):
        store.finish_session(s2, "recording")
    store.delete_session(s1)
    assert store.sample_count(s1) == 0 and [s.id for s in store.sessions()] == [s2]


def test_samples_keep_nan_and_order(store):
    sid = store.create_session("c", "r")
    samples = [
        GazeSample(100 + i, float(i), -float(i), i % 3 != 0, 2.5 if i % 2 else math.nan, 7 * i)
        for i in range(50)
    ]
    store.append_samples(sid, samples[:20])
    store.append_samples(sid, samples[20:])  # appends continue the sequence
    back = store.samples(sid).to_samples()
    assert len(back) == 50
    for a, b in zip(back, samples, strict=True):
        assert (a.t_us, a.x, a.y, a.valid, a.device_t_us) == (b.t_us, b.x, b.y, b.valid, b.device_t_us)
        assert (math.isnan(a.pupil_mm) and math.isnan(b.pupil_mm)) or a.pupil_mm == b.pupil_mm


def test_events_and_fixations(store):
    sid = store.create_session("c", "r")
    store.append_events(
        sid, [EventRecord(5, "viewport", {"zoom": 2.0}), EventRecord(9, "source", {"event": "lost"})]
    )
    assert [e.kind for e in store.events(sid)] == ["viewport", "source"]
    assert store.events(sid, kind="source")[0].data == {"event": "lost"}
    fx = [Fixation(10.0, 20.0, 0.0, 0.2, 3.1), Fixation(30.0, 40.0, 0.3, 0.5)]
    store.save_fixations(sid, fx, method="ivt")
    store.save_fixations(sid, fx[:1], method="online")
    store.save_fixations(sid, fx[1:], method="ivt")  # replaces that method's set
    assert store.fixations(sid, "ivt")[0].x == 30.0 and len(store.fixations(sid, "online")) == 1
    assert math.isnan(store.fixations(sid, "ivt")[0].pupil)
    assert store.fixation_methods(sid) == ["ivt", "online"]


def test_report_versions_are_append_only(store):
    v1 = store.add_report_version(
        "case-1", Report("Heart is enlarged.", "Cardiomegaly."), "model", "gaze2report",
        bundle_id="bundle-abc", scanpath_source="predicted",
    )  # fmt: skip
    v2 = store.add_report_version(
        "case-1", "FINDINGS: Heart is enlarged.\n\nIMPRESSION: Mild cardiomegaly.", "human", "dr-a"
    )
    v3 = store.add_report_version("case-1", v2.text, "signed", "dr-a")
    assert [v.version for v in store.report_versions("case-1")] == [1, 2, 3]
    assert (v2.parent_id, v3.parent_id) == (v1.id, v2.id)
    assert v1.bundle_id == "bundle-abc" and v1.scanpath_source == "predicted"
    assert store.latest_report("case-1").origin == "signed"
    assert store.latest_report("case-1").report.impression == "Mild cardiomegaly."
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE report_versions SET text='tampered' WHERE id=?", (v1.id,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM report_versions")
    with pytest.raises(StoreError, match="must name the bundle"):
        store.add_report_version("case-1", "x", "model")
    with pytest.raises(StoreError, match="Unknown report origin"):
        store.add_report_version("case-1", "x", "robot")
    assert store.latest_report("case-2") is None


def test_annotations(store):
    f = Finding("Pleural Effusion", 10, 20, 110, 220, shape="ellipse", certainty=4)
    a = store.add_annotation("case-1", f, reader="dr-a", sentence="Small left effusion.")
    poly = Finding(
        "Lung Opacity", 0, 0, 50, 50, shape="polygon", certainty=3, points=[(0, 0), (50, 0), (25, 50)]
    )
    b = store.add_annotation("case-1", poly, reader="dr-b")
    got = store.annotations("case-1")
    assert [x.id for x in got] == [a, b]
    assert got[0].finding == f and got[0].reader == "dr-a" and got[0].sentence == "Small left effusion."
    assert got[1].finding.points == [(0.0, 0.0), (50.0, 0.0), (25.0, 50.0)]
    assert [x.id for x in store.annotations("case-1", reader="dr-b")] == [b]
    moved = Finding("Pleural Effusion", 15, 25, 115, 225, certainty=5)
    store.update_annotation(a, moved)
    store.link_sentence(b, "Patchy opacity at the left base.")
    got = store.annotations("case-1")
    assert got[0].finding == moved and got[0].sentence == "Small left effusion."  # kept when not given
    assert got[1].sentence == "Patchy opacity at the left base."
    store.delete_annotation(a)
    assert [x.id for x in store.annotations("case-1")] == [b]
    with pytest.raises(StoreError, match="Certainty"):
        store.add_annotation("case-1", Finding("Edema", 0, 0, 1, 1, certainty=9))
    with pytest.raises(StoreError, match="shape"):
        store.add_annotation("case-1", Finding("Edema", 0, 0, 1, 1, shape="star"))
    with pytest.raises(StoreError, match="No annotation"):
        store.update_annotation(12345, moved)


def test_read_only_store_gives_clear_errors(tmp_path):
    path = tmp_path / "db.sqlite"
    Store(path).close()
    with Store(path, read_only=True) as ro:
        assert ro.studies() == []
        with pytest.raises(StoreError, match="read-only") as err:
            ro.add_study("x")
        assert err.value.kind is StoreErrorKind.READONLY


def test_reader_sees_writer_commits_while_it_writes(tmp_path):
    """WAL: the GUI's connection reads while the recorder's thread writes."""
    path = tmp_path / "db.sqlite"
    with Store(path) as gui:
        sid = gui.create_session("c", "r")

        def writer():
            with Store(path) as w:
                for k in range(20):
                    w.append_samples(sid, [GazeSample(k * 10 + i, 1.0, 1.0) for i in range(10)])

        th = threading.Thread(target=writer)
        th.start()
        counts = []
        while th.is_alive():
            counts.append(gui.sample_count(sid))
        th.join()
        assert gui.sample_count(sid) == 200 and counts == sorted(counts)


def test_default_db_path_honours_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GAZE2REPORT_DATA_DIR", str(tmp_path))
    assert default_db_path() == tmp_path / "gaze2report.sqlite"


def test_records_carry_their_vocabulary_members_and_edges_take_either_spelling(store):
    v = store.add_report_version("case-1", "x", ReportOrigin.HUMAN, "dr-a")
    assert v.origin is ReportOrigin.HUMAN
    assert store.conn.execute("SELECT origin FROM report_versions").fetchone() == ("human",)
    sid = store.create_session("case-1", "dr-a")
    store.finish_session(sid, "failed", error="boom")
    assert store.session(sid).status is SessionStatus.FAILED
    assert [s.id for s in store.sessions(status=SessionStatus.FAILED)] == [sid]
    store.add_annotation("case-1", Finding("Edema", 0, 0, 1, 1, shape="box"))
    assert store.annotations("case-1")[0].finding.shape is AnnotationShape.BOX
    with pytest.raises(StoreError, match="Unknown report origin 'robot'") as err:
        store.add_report_version("case-1", "x", "robot")
    assert err.value.kind is StoreErrorKind.INVALID
