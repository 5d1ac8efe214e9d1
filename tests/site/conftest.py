"""A site's workstation database, filled through the store's API as the GUI fills it."""

from __future__ import annotations

import pytest

from ml.store import Store, file_sha256


def read_study(store: Store, study, uid: str, reader: str = "dr-a", *, sign: bool = True) -> None:
    """Open ``study`` (an ``ml.types.Study``), store a model draft, sign its report with the image's
    sha256, import every reader's scanpath as a completed session and draw its findings."""
    store.add_study(uid, study.image_path)
    store.add_report_version(uid, "FINDINGS: draft.\n\nIMPRESSION: draft.", "model", "gaze2report",
                             bundle_id="base", ai_context={"attention": []})  # fmt: skip
    if sign:
        store.add_report_version(uid, study.report.text, "signed", reader, image_sha256=file_sha256(study.image_path))
    for sp in study.scanpaths:
        sid = store.create_session(uid, sp.reader or reader, source="tobii")
        store.save_fixations(sid, sp.fixations, method="imported")
        store.finish_session(sid, "completed")
    for f in study.findings:
        store.add_annotation(uid, f, reader=reader)


@pytest.fixture
def make_site(tmp_path):
    """``make_site(studies, name="ws1.sqlite", signed=True)`` → the database path."""

    def make(studies, name="ws1.sqlite", signed=True):
        path = tmp_path / name
        with Store(path) as store:
            for i, s in enumerate(studies):
                read_study(store, s, f"1.2.826.0.1.{i:04d}", sign=signed)
        return path

    return make
