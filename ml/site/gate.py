"""The gate: may a refreshed bundle replace the current one?

Why here: the decision is a rule over two of ``eval``'s results on the site's held-out studies, and
the CLI, the registry (``model promote`` refuses what the gate refused) and a GUI page show the
same table; none of that needs torch. The primary metric is the clinical-efficacy F1 (CE-F1) of
the mode the bundles serve by default: a candidate passes unless it is worse than the current
bundle by more than the tolerance. NLG and scanpath numbers are shown, not gated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: The gate's primary metric: micro CE-F1 of the labeler's findings, draft vs signed report.
GATE_METRIC = "CE-F1"
#: Shown beside it: (results key path, header).
SHOWN = (("ce", "CE-P"), ("ce", "CE-R"), ("nlg", "BLEU-4"), ("nlg", "ROUGE-L"))
SCANPATH_SHOWN = ("scanmatch", "cc", "iou")


@dataclass
class GateResult:
    """The two bundles' scores on the held-out slice and the verdict."""

    passed: bool
    reason: str
    mode: str  # the gaze mode scored (the bundles' default)
    tolerance: float
    holdout: int  # held-out studies scored
    current: dict[str, Any]  # ``row_scores`` of the current bundle
    candidate: dict[str, Any]
    current_bundle: str = ""  # name and version
    candidate_bundle: str = ""
    metric: str = GATE_METRIC
    warnings: list[str] = field(default_factory=list)
    support: dict[str, int] = field(default_factory=dict)  # held-out studies positive per observation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(**data)


def row_scores(results: dict[str, Any], mode: str) -> dict[str, Any]:
    """The numbers the gate keeps from one ``eval`` result (``run_eval``'s dict): no case, no text."""
    row = results["rows"][mode]
    out: dict[str, Any] = {GATE_METRIC: row["ce"][GATE_METRIC]}
    for part, key in SHOWN:
        out[key] = row[part].get(key)
    out["per_observation"] = dict(row.get("ce_per_observation", {}))
    scanpath = row.get("scanpath") or {}
    out["scanpath"] = {k: scanpath[k] for k in SCANPATH_SHOWN if k in scanpath}
    return out


def decide(
    current: dict[str, Any],
    candidate: dict[str, Any],
    *,
    mode: str,
    tolerance: float,
    holdout: int,
    current_bundle: str = "",
    candidate_bundle: str = "",
    warnings: list[str] | None = None,
    support: dict[str, int] | None = None,
) -> GateResult:
    """Pass when the candidate's CE-F1 is not below the current one's by more than ``tolerance``."""
    if tolerance < 0:
        raise ValueError(f"the gate's tolerance must be 0 or more, not {tolerance}")
    new, old = float(_primary(candidate)), float(_primary(current))
    delta = new - old
    said = f"{GATE_METRIC} {new:.3f} vs current {old:.3f} ({delta:+.3f}) on {holdout} held-out studies"
    if math.isnan(new):
        passed, reason = False, f"{said}: the candidate has no {GATE_METRIC}"
    elif math.isnan(old) or delta >= -tolerance:
        passed, reason = True, f"{said}: not worse beyond the tolerance {tolerance:g}, may be promoted"
    else:
        passed, reason = False, f"{said}: worse by more than the tolerance {tolerance:g}, stays a candidate"
    return GateResult(
        passed, reason, mode, tolerance, holdout, current, candidate, current_bundle, candidate_bundle,
        warnings=list(warnings or []), support=dict(support or {}),
    )  # fmt: skip


def _primary(scores: dict[str, Any]) -> float:
    value = scores.get(GATE_METRIC)
    return math.nan if value is None else float(value)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.3f}"


def gate_markdown(gate: GateResult | dict[str, Any]) -> str:
    """The gate's table: overall scores, then CE-F1 per observation (those some held-out study has,
    with how many), then the verdict."""
    g = gate if isinstance(gate, GateResult) else GateResult.from_dict(gate)
    cur, cand = g.current, g.candidate
    lines = [
        f"Gate on {g.holdout} held-out signed studies, gaze mode `{g.mode}`, primary {g.metric}, "
        f"tolerance {g.tolerance:g}",
        "",
        f"| Metric | current ({g.current_bundle or '?'}) | candidate ({g.candidate_bundle or '?'}) | change |",
        "|---|---:|---:|---:|",
    ]

    def row(name: str, a: Any, b: Any) -> None:
        change = "—" if a is None or b is None else f"{float(b) - float(a):+.3f}"
        lines.append(f"| {name} | {_fmt(a)} | {_fmt(b)} | {change} |")

    row(f"**{g.metric}**", cur.get(g.metric), cand.get(g.metric))
    for _, key in SHOWN:
        row(key, cur.get(key), cand.get(key))
    for key in SCANPATH_SHOWN:
        if key in cur.get("scanpath", {}) or key in cand.get("scanpath", {}):
            row(f"scanpath {key}", cur.get("scanpath", {}).get(key), cand.get("scanpath", {}).get(key))
    observations = [o for o in cur.get("per_observation", {}) if o in cand.get("per_observation", {})]
    for o in observations:
        if g.support and not g.support.get(o):
            continue  # no held-out study has it: its F1 says nothing
        n = f" (n={g.support[o]})" if g.support else ""
        row(f"{g.metric} {o}{n}", cur["per_observation"][o], cand["per_observation"][o])
    lines += ["", ("PASSED: " if g.passed else "REFUSED: ") + g.reason]
    lines += [f"warning: {w}" for w in g.warnings]
    return "\n".join(lines) + "\n"
