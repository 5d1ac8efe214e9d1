"""The report audit trail: no client can replace or remove a version, signed is final, and a
database of the previous schema is upgraded in place with its data kept and these rules in force.

The attacks go through Python's plain ``sqlite3`` module on the file, with SQLite's default
settings (no foreign keys, no recursive triggers), as any tool that opens the database would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ml.store import SCHEMA_VERSION, ReportOrigin, Store, StoreError, StoreErrorKind

SHA = "ab" * 32
V1_DDL = (Path(__file__).parent / "schema_v1.sql").read_text()


def _plain(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA recursive_triggers").fetchone() == (0,)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)
    return conn


def _rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT * FROM report_versions ORDER BY id").fetchall()


@pytest.fixture
def trail(tmp_path):
    """A database with an unsigned study (a model draft) and a signed one (draft, edit, signed)."""
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        store.add_report_version("open", "Heart is normal.", "model", "gaze2report", bundle_id="b-1")
        store.add_report_version("done", "Small effusion.", "model", "gaze2report", bundle_id="b-1")
        store.add_report_version("done", "Small left effusion.", "human", "dr-a")
        signed = store.add_report_version("done", "Small left effusion.", "signed", "dr-a", image_sha256=SHA)
    return path, signed


REPLACEMENTS = {
    "update": "UPDATE report_versions SET text='forged' WHERE id={id}",
    "delete": "DELETE FROM report_versions WHERE id={id}",
    "insert or replace by id": "INSERT OR REPLACE INTO report_versions(id, study_id, version, text, origin, author, created_at)"
    " VALUES ({id}, {study}, {version}, 'forged', '{origin}', 'mallory', 'now')",
    "insert or replace by study and version": "INSERT OR REPLACE INTO report_versions(study_id, version, text, origin, author, created_at)"
    " VALUES ({study}, {version}, 'forged', '{origin}', 'mallory', 'now')",
    "replace into": "REPLACE INTO report_versions(id, study_id, version, text, origin, author, created_at)"
    " VALUES ({id}, {study}, {version}, 'forged', '{origin}', 'mallory', 'now')",
    "upsert by id": "INSERT INTO report_versions(id, study_id, version, text, origin, author, created_at)"
    " VALUES ({id}, {study}, {version}, 'forged', '{origin}', 'mallory', 'now')"
    " ON CONFLICT(id) DO UPDATE SET text='forged'",
    "upsert by study and version": "INSERT INTO report_versions(study_id, version, text, origin, author, created_at)"
    " VALUES ({study}, {version}, 'forged', '{origin}', 'mallory', 'now')"
    " ON CONFLICT(study_id, version) DO UPDATE SET text='forged'",
    "insert or ignore by id": "INSERT OR IGNORE INTO report_versions(id, study_id, version, text, origin, author, created_at)"
    " VALUES ({id}, {study}, {version + 1}, 'forged', '{origin}', 'mallory', 'now')",
}


@pytest.mark.parametrize("statement", REPLACEMENTS.values(), ids=REPLACEMENTS.keys())
@pytest.mark.parametrize("which", ["unsigned draft", "signed version"])
def test_no_client_can_replace_or_remove_a_report_version_under_sqlite_defaults(trail, statement, which):
    path, signed = trail
    conn = _plain(path)
    before = _rows(conn)
    target = before[0] if which == "unsigned draft" else next(r for r in before if r[0] == signed.id)
    sql = statement.replace("{version + 1}", str(target[2] + 1)).format(
        id=target[0], study=target[1], version=target[2], origin=target[4]
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only|signed report is final"):
        conn.execute(sql)
    assert _rows(conn) == before
    with Store(path) as store:
        assert store.signed_report("done").text == "Small left effusion."


def test_a_signed_report_is_final_in_the_database_too(trail):
    path, signed = trail
    conn = _plain(path)
    insert = (
        "INSERT INTO report_versions(study_id, version, text, origin, created_at, amends, image_sha256)"
        " VALUES (?, ?, 'x', ?, 'now', ?, ?)"
    )
    study, top = signed.study_id, signed.version
    for origin, amends in [("human", None), ("model", None), ("signed", None), ("addendum", signed.id - 1)]:
        with pytest.raises(sqlite3.IntegrityError, match="signed report is final"):
            conn.execute(insert, (study, top + 1, origin, amends, ""))
    with pytest.raises(sqlite3.IntegrityError, match="signed report is final"):  # it names what it amends
        conn.execute(insert, (study, top + 1, "addendum", None, ""))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: image_sha256_is_hex"):
        conn.execute(insert, (study, top + 1, "addendum", signed.id, "not-a-hash"))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: only_an_addendum_amends"):  # only addenda amend
        conn.execute(insert, (_rows(conn)[0][1], 2, "human", 1, ""))
    conn.execute(insert, (study, top + 1, "addendum", signed.id, SHA))
    addendum = conn.execute("SELECT id FROM report_versions WHERE version=? AND study_id=?", (top + 1, study))
    addendum_id = addendum.fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="signed report is final"):  # amends the latest only
        conn.execute(insert, (study, top + 2, "addendum", signed.id, ""))
    conn.execute(insert, (study, top + 2, "addendum", addendum_id, ""))
    unsigned = _rows(conn)[0][1]
    with pytest.raises(sqlite3.IntegrityError, match="has none"):
        conn.execute(insert, (unsigned, 2, "addendum", 1, ""))


def test_the_store_says_why_a_signed_report_takes_only_an_addendum(trail):
    path, signed = trail
    with Store(path) as store:
        for origin in ("human", "model", "signed"):
            with pytest.raises(StoreError, match="is signed .* and final; a correction must be an addendum") as err:
                store.add_report_version("done", "x", origin, "dr-b", bundle_id="b-2")
            assert err.value.kind is StoreErrorKind.SIGNED
        with pytest.raises(StoreError, match=f"must amend the latest signed version .*id {signed.id}") as err:
            store.add_report_version("done", "x", "addendum", "dr-b")
        assert err.value.kind is StoreErrorKind.SIGNED
        first = store.add_report_version(
            "done", "Small left effusion. Addendum: also a left apical nodule.", ReportOrigin.ADDENDUM, "dr-a",
            amends=signed.id, image_sha256=SHA.upper(),
        )  # fmt: skip
        assert (first.origin, first.amends, first.image_sha256, first.final) == ("addendum", signed.id, SHA, True)
        with pytest.raises(StoreError, match=f"not id {signed.id}"):
            store.add_report_version("done", "y", "addendum", "dr-a", amends=signed.id)
        second = store.add_report_version("done", "y", "addendum", "dr-a", amends=first.id)
        assert store.signed_report("done") == second and store.latest_report("done") == second
        with pytest.raises(StoreError, match="Only an addendum amends") as err:
            store.add_report_version("open", "z", "human", "dr-a", amends=1)
        assert err.value.kind is StoreErrorKind.INVALID
        with pytest.raises(StoreError, match="has none") as err:
            store.add_report_version("open", "z", "addendum", "dr-a", amends=1)
        assert err.value.kind is StoreErrorKind.INVALID
        assert store.signed_report("open") is None
        assert [v.origin for v in store.report_versions("open")] == ["model"]


def test_a_model_drafts_ai_context_and_the_signed_image_hash_come_back_as_stored(tmp_path):
    context = {
        "scanpath": [[10.5, 20.0, 0.3]],
        "attention": [1.0],
        "findings": [{"label": "Pleural Effusion", "probability": 0.91, "place": "left lower"}],
        "model": {"name": "gaze2report", "version": "0.1.0"},
        "decoding": {"seed": 0, "redraft": 7},
    }
    with Store(tmp_path / "db.sqlite") as store:
        draft = store.add_report_version(
            "s", "x", "model", "gaze2report", bundle_id="b", scanpath_source="predicted", ai_context=context
        )
        edit = store.add_report_version("s", "x y", "human", "dr-a")
        assert store.report_versions("s")[0].ai_context == context == draft.ai_context
        assert (edit.ai_context, edit.amends, edit.image_sha256) == (None, None, "")
        with pytest.raises(StoreError, match="64 hexadecimal digits") as err:
            store.add_report_version("s", "x y", "signed", "dr-a", image_sha256="abc")
        assert err.value.kind is StoreErrorKind.INVALID
        with pytest.raises(StoreError, match="cannot be stored as JSON"):
            store.add_report_version("s", "x y", "human", "dr-a", ai_context={"f": object()})
        assert len(store.report_versions("s")) == 2


def _v1_database(path: Path) -> list[tuple]:
    """A schema-1 database as the previous release left it, including a model draft stored after
    the signed version (what a redraft could do before signing was final); returns its versions."""
    conn = _plain(path)
    conn.executescript(V1_DDL)
    conn.executescript(
        """
        INSERT INTO meta VALUES ('schema_version', '1');
        INSERT INTO studies(id, uid, image_path, created_at) VALUES (1, 'case-1', '/img/1.dcm', 't0'),
                                                                    (2, 'case-2', '/img/2.png', 't0');
        INSERT INTO readers(id, name, created_at) VALUES (1, 'dr-a', 't0');
        INSERT INTO sessions(id, study_id, reader_id, status, started_at, sample_count)
            VALUES (1, 1, 1, 'completed', 't1', 2);
        INSERT INTO samples VALUES (1, 0, 1000, 10.0, 20.0, 1, 3.1, 0), (1, 1, 2000, NULL, NULL, 0, NULL, 0);
        INSERT INTO fixations VALUES (1, 'ivt', 0, 5.0, 6.0, 0.0, 0.25, NULL);
        INSERT INTO report_versions(id, study_id, version, text, origin, author, created_at, bundle_id,
                                    scanpath_source, parent_id) VALUES
            (1, 1, 1, 'draft', 'model', 'gaze2report', 't2', 'b-1', 'predicted', NULL),
            (2, 1, 2, 'edited', 'human', 'dr-a', 't3', '', '', 1),
            (3, 1, 3, 'edited', 'signed', 'dr-a', 't4', '', '', 2),
            (4, 1, 4, 'redraft', 'model', 'gaze2report', 't5', 'b-1', 'predicted', 3),
            (5, 2, 1, 'other', 'human', 'dr-a', 't6', '', '', NULL);
        INSERT INTO annotations(study_id, reader_id, label, shape, x0, y0, x1, y1, created_at, updated_at)
            VALUES (1, 1, 'Nodule', 'ellipse', 1, 2, 3, 4, 't7', 't7');
        """
    )
    # schema 1 refused UPDATE but let REPLACE through: the defect the upgrade closes
    conn.execute("INSERT INTO report_versions VALUES (9, 2, 9, 'r0', 'human', '', 't', '', '', NULL)")
    conn.execute("INSERT OR REPLACE INTO report_versions VALUES (9, 2, 9, 'r', 'human', '', 't', '', '', NULL)")
    versions = _rows(conn)
    assert versions[-1][3] == "r"
    # a client without foreign keys left a version whose study is gone: the upgrade keeps it too
    conn.execute("INSERT INTO report_versions VALUES (10, 99, 1, 'orphan', 'human', '', 't', '', '', NULL)")
    conn.close()
    return versions


def test_a_schema_1_database_is_upgraded_in_place_with_its_data_and_the_new_rules(tmp_path):
    path = tmp_path / "old.sqlite"
    old_versions = _v1_database(path)
    with pytest.raises(StoreError, match="older schema 1; open it once for writing"):
        Store(path, read_only=True)
    with Store(path) as store:
        assert store.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        assert [s.uid for s in store.studies()] == ["case-1", "case-2"]
        assert store.session(1).status == "completed" and store.session(1).reader == "dr-a"
        samples = store.samples(1)
        assert list(samples.t_us) == [1000, 2000] and samples.x[0] == 10.0 and not samples.valid[1]
        assert [(f.x, f.end) for f in store.fixations(1)] == [(5.0, 0.25)]
        assert [a.finding.label for a in store.annotations("case-1")] == ["Nodule"]
        versions = store.report_versions("case-1") + store.report_versions("case-2")
        assert [
            (v.id, v.study_id, v.version, v.text, v.origin, v.author, v.created_at, v.bundle_id,
             v.scanpath_source, v.parent_id)
            for v in versions
        ] == old_versions  # fmt: skip
        assert all((v.ai_context, v.amends, v.image_sha256) == (None, None, "") for v in versions)
        assert store.signed_report("case-1").id == 3
        with pytest.raises(StoreError) as err:
            store.add_report_version("case-1", "again", "model", "gaze2report", bundle_id="b-1")
        assert err.value.kind is StoreErrorKind.SIGNED
        fixed = store.add_report_version("case-1", "corrected", "addendum", "dr-a", amends=3)
        assert fixed.version == 5 and fixed.parent_id == 4
    conn = _plain(path)
    before = _rows(conn)
    assert conn.execute("SELECT text FROM report_versions WHERE study_id=99").fetchall() == [("orphan",)]
    for sql in (
        "INSERT OR REPLACE INTO report_versions(id, study_id, version, text, origin, created_at)"
        " VALUES (5, 2, 1, 'forged', 'human', 'now')",
        "REPLACE INTO report_versions(id, study_id, version, text, origin, created_at)"
        " VALUES (9, 2, 9, 'forged', 'human', 'now')",
        "DELETE FROM report_versions WHERE id=9",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    assert _rows(conn) == before
    with Store(path, read_only=True) as again:  # upgraded once: opens read-only now
        assert len(again.report_versions("case-1")) == 5
