"""A simulated site: studies "read" into a workstation database through the store's API, as the GUI
reads them (a model draft stored, the reference report signed with the image's sha256, the
readers' gaze imported as completed sessions, the findings drawn as annotations).

Why: the refresh and its gate are proven on data that went through the same doors as a real
site's, not on a cohort folder read directly. ``shuffle_reports`` signs every study with another
study's report (all but the newest ``keep_newest``, the slice the gate scores on): a deliberately
broken site, whose refresh the gate must refuse.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

from ml.store import Store, file_sha256
from ml.types import Study

DRAFT = "FINDINGS: (model draft)\n\nIMPRESSION: (model draft)"


def read_study(store: Store, study: Study, uid: str, reader: str, *, report: str | None = None, sign: bool = True) -> None:
    """One study as a reader reads it at the workstation; ``report`` replaces the study's own."""
    store.add_study(uid, study.image_path, dataset=study.dataset)
    store.add_report_version(uid, DRAFT, "model", "gaze2report", bundle_id="simulated", ai_context={"attention": []})
    if sign:
        text = report if report is not None else study.report.text
        store.add_report_version(uid, text, "signed", reader, image_sha256=file_sha256(study.image_path))
    for k, sp in enumerate(study.scanpaths):
        session = store.create_session(uid, sp.reader or f"{reader}-{k}", source="import")
        store.save_fixations(session, sp.fixations, method="imported")
        store.finish_session(session, "completed")
    for finding in study.findings:
        store.add_annotation(uid, finding, reader=reader)


def simulate_site(
    studies: Sequence[Study],
    db: str | os.PathLike[str],
    *,
    uid_prefix: str = "2.25.",
    readers: Sequence[str] = ("site-reader-1", "site-reader-2"),
    shuffle_reports: bool = False,
    keep_newest: int = 0,
    seed: int = 0,
    sign: bool = True,
) -> list[str]:
    """Read ``studies`` into ``db`` in order (so the last ones are the newest signings); the uids."""
    reports = [s.report.text if s.report else "" for s in studies]
    if shuffle_reports:
        cut = len(reports) - keep_newest
        older = reports[:cut]
        random.Random(seed).shuffle(older)
        reports[:cut] = older
    uids = [f"{uid_prefix}{i:06d}" for i in range(len(studies))]
    with Store(db) as store:
        for i, (study, uid) in enumerate(zip(studies, uids, strict=True)):
            read_study(store, study, uid, readers[i % len(readers)], report=reports[i], sign=sign)
    return uids
