"""A model draft's AI context as JSON, stored with the draft's report version.

Reopening a study must show what the reader saw when the draft arrived (its scanpath and
attention, the image model's findings with their "not in the draft" flags, the model, the
decoding, the domain check), also after a restart; so the context travels with the version in
the database (``ReportVersion.ai_context``) and is rebuilt into a ``Draft`` from there.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ml.contracts import DomainCheck, Draft, EncoderFinding
from ml.types import Fixation, Scanpath, ScanpathSource


def draft_context(draft: Draft, decoding: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready context of ``draft`` (everything but its text, which is the version's)."""
    sp = draft.scanpath
    return {
        "scanpath": None
        if sp is None
        else {
            "fixations": [[f.x, f.y, f.start, f.end] for f in sp.fixations],
            "image_size": list(sp.image_size),
            "source": ScanpathSource(sp.source).value,
        },
        "attention": [float(a) for a in draft.attention],
        "findings": [asdict(f) for f in draft.findings],
        "model": dict(draft.model),
        "n_tokens": int(draft.n_tokens),
        "redrafted": bool(draft.redrafted),
        "domain": None if draft.domain is None else asdict(draft.domain),
        "decoding": dict(decoding) if decoding else None,  # None: the backend's default decoding
    }


def draft_from_context(text: str, context: dict[str, Any]) -> Draft:
    """The ``Draft`` a stored context describes (the inverse of ``draft_context``)."""
    sp = context.get("scanpath")
    scanpath = None
    if sp:
        scanpath = Scanpath(
            [Fixation(float(x), float(y), float(t0), float(t1)) for x, y, t0, t1 in sp.get("fixations", [])],
            (int(sp["image_size"][0]), int(sp["image_size"][1])),
            ScanpathSource(sp.get("source", ScanpathSource.PREDICTED.value)),
        )
    domain = context.get("domain")
    return Draft(
        text=text,
        scanpath=scanpath,
        attention=[float(a) for a in context.get("attention") or []],
        model=dict(context.get("model") or {}),
        n_tokens=int(context.get("n_tokens") or 0),
        findings=[EncoderFinding(**f) for f in context.get("findings") or []],
        redrafted=bool(context.get("redrafted", False)),
        domain=DomainCheck(**domain) if domain else None,
    )

