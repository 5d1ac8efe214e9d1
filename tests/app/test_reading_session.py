"""The reading session's rules, without Qt: signed means final, amendments, failed opens, AI context."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from app.components.ai_context import draft_context, draft_from_context
from app.components.reading import (
    ImageStatus,
    ReadingError,
    ReadingSession,
    ReportState,
    VersionRequest,
    report_state,
)
from ml.contracts import DomainCheck, Draft, EncoderFinding
from ml.types import Fixation, Image, Scanpath, ScanpathSource, Study

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Version:
    id: int
    version: int
    text: str
    origin: str
    author: str = ""
    created_at: str = "2026-01-01T00:00:00"
    ai_context: dict | None = None
    amends: int | None = None
    image_sha256: str = ""


@dataclass
class FakeStore:
    """``Store.add_report_version``'s rules as the store applies them, in memory."""

    versions: list[Version] = field(default_factory=list)

    def add_report_version(self, study, text, origin, author="", **kw):
        signed = [v for v in self.versions if v.origin in ("signed", "addendum")]
        if signed and origin != "addendum":
            raise RuntimeError("signed")
        if origin == "addendum" and (not signed or kw.get("amends") != self.versions[-1].id):
            raise RuntimeError("signed")
        v = Version(len(self.versions) + 1, len(self.versions) + 1, text, origin, author, **{
            k: kw[k] for k in ("ai_context", "amends", "image_sha256") if k in kw
        })
        self.versions.append(v)
        return v


def a_draft(**kw) -> Draft:
    sp = Scanpath([Fixation(10.0, 20.0, 0.0, 0.3), Fixation(30.0, 40.0, 0.3, 0.5)], (64, 64), ScanpathSource.PREDICTED)
    defaults = dict(
        text="FINDINGS: Heart enlarged.\n\nIMPRESSION: Cardiomegaly.",
        scanpath=sp,
        attention=[0.25, 0.75],
        model={"name": "bundle", "version": "1.2", "sha256": "ab" * 20},
        n_tokens=12,
        findings=[EncoderFinding("Cardiomegaly", 0.9, "", True), EncoderFinding("Lung Lesion", 0.6, "left upper", False)],
        redrafted=True,
        domain=DomainCheck(False, 3.2, 2.0, "mahalanobis"),
    )
    defaults.update(kw)
    return Draft(**defaults)


def opened(**kw) -> ReadingSession:
    s = ReadingSession(**kw)
    s.open(Study("s1", "/x/s1.png"))
    s.image_loaded(Image(np.zeros((64, 64), np.uint8)), "f" * 64)
    return s


def store_request(session: ReadingSession, store: FakeStore, request: VersionRequest) -> Version:
    version = store.add_report_version(
        request.study, request.text, request.origin, request.author,
        ai_context=request.ai_context, amends=request.amends, image_sha256=request.image_sha256,
    )
    session.version_stored(request.study, version)
    return version


def signed_session() -> tuple[ReadingSession, FakeStore]:
    s, store = opened(), FakeStore()
    store_request(s, store, s.draft_ready(a_draft(), "FINDINGS: Heart enlarged.", None))
    store_request(s, store, s.request("FINDINGS: Heart enlarged.", "signed", "Dr A"))
    return s, store


def test_the_reading_session_imports_no_qt():
    code = "import sys, app.components.reading; sys.exit(int(any(m.startswith('PySide6') for m in sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_signed_report_cannot_be_redrafted_saved_or_edited():
    s, _ = signed_session()
    assert s.signed and s.state is ReportState.SIGNED
    assert not (s.can_draft or s.can_save or s.can_edit)
    with pytest.raises(ReadingError, match="final"):
        s.request("changed", "human", "Dr A")
    with pytest.raises(ReadingError, match="already signed"):
        s.request("changed", "signed", "Dr A")
    with pytest.raises(ReadingError, match="redrafted"):
        s.draft_ready(a_draft(), "another draft")
    s.edited()
    assert not s.dirty


def test_a_signed_report_is_corrected_by_a_signed_addendum_that_amends_it():
    s, store = signed_session()
    signed_id = s.latest.id
    assert s.can_amend
    s.begin_addendum()
    assert s.can_edit and s.can_sign and not s.can_save and not s.can_draft
    v = store_request(s, store, s.request("FINDINGS: Heart enlarged. Small effusion.", "addendum", "Dr A"))
    assert v.origin == "addendum" and v.amends == signed_id
    assert s.state is ReportState.AMENDED and s.signed and not s.amending
    s.begin_addendum()  # a second addendum amends the first
    v2 = store_request(s, store, s.request("FINDINGS: Corrected again.", "addendum", "Dr A"))
    assert v2.amends == v.id


def test_an_addendum_needs_a_signed_report_and_signing_needs_text_and_a_reader():
    s = opened()
    with pytest.raises(ReadingError, match="not signed yet"):
        s.request("text", "addendum", "Dr A")
    with pytest.raises(ReadingError, match="empty"):
        s.request("  ", "signed", "Dr A")
    with pytest.raises(ReadingError, match="named reader"):
        s.request("text", "signed", "")
    with pytest.raises(ReadingError):
        s.begin_addendum()


def test_nothing_is_saved_signed_or_drafted_for_a_study_whose_image_did_not_load():
    s = ReadingSession()
    s.open(Study("bad", "/x/not-an-image.txt"))
    s.image_failed("not a radiograph")
    assert s.image_status is ImageStatus.FAILED and s.image is None
    assert not (s.can_save or s.can_sign or s.can_draft or s.can_edit)
    for origin in ("human", "signed"):
        with pytest.raises(ReadingError, match="did not load"):
            s.request("FINDINGS: x", origin, "Dr A")
    with pytest.raises(ReadingError, match="did not load"):
        s.draft_ready(a_draft(), "x")


def test_a_model_draft_is_stored_with_its_ai_context_and_the_image_hash():
    s = opened()
    req = s.draft_ready(a_draft(), "FINDINGS: Heart enlarged.", {"max_new_tokens": 80})
    assert req.origin == "model" and req.bundle_id == "bundle@" + "ab" * 6
    assert req.scanpath_source == "predicted" and req.image_sha256 == "f" * 64
    assert req.ai_context["decoding"] == {"max_new_tokens": 80}
    assert s.domain is not None and not s.domain.in_domain


def test_reopening_restores_the_latest_drafts_ai_context_from_the_stored_versions():
    draft = a_draft()
    versions = [
        Version(1, 1, "old draft", "model", ai_context=draft_context(a_draft(n_tokens=1), None)),
        Version(2, 2, "FINDINGS: Heart enlarged.", "model", ai_context=draft_context(draft, None)),
        Version(3, 3, "FINDINGS: Heart enlarged, edited.", "human"),
    ]
    s = opened()
    seen = []
    s.draft_changed.connect(seen.append)
    s.versions_loaded(versions)
    restored = seen[-1]
    assert restored is s.draft and restored.n_tokens == draft.n_tokens
    assert restored.text == "FINDINGS: Heart enlarged."
    assert [f.in_draft for f in restored.findings] == [True, False]
    assert restored.scanpath.fixations == draft.scanpath.fixations and restored.attention == draft.attention
    assert restored.domain == draft.domain and restored.model == draft.model and restored.redrafted
    assert s.state is ReportState.EDITED


def test_the_ai_context_round_trips_through_json():
    import json

    draft = a_draft(domain=None, scanpath=None)
    back = draft_from_context(draft.text, json.loads(json.dumps(draft_context(draft, None))))
    assert back == draft


def test_the_worklist_state_follows_the_latest_version():
    assert report_state([]) is ReportState.NEW
    assert report_state([Version(1, 1, "", "model")]) is ReportState.DRAFT_READY
    assert report_state([Version(1, 1, "", "model"), Version(2, 2, "", "signed")]) is ReportState.SIGNED
    assert report_state([Version(2, 2, "", "signed"), Version(3, 3, "", "addendum")]) is ReportState.AMENDED


def test_opening_another_study_forgets_the_previous_one():
    s, _ = signed_session()
    s.open(Study("s2", "/x/s2.png"))
    assert s.versions == [] and s.draft is None and not s.signed and s.image_status is ImageStatus.LOADING
    assert not s.can_save  # until its image has loaded
