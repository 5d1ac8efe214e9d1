"""Paper-style tables from ``results.json``: ``results.md`` and the README's results section."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ml.eval.runner import Row

NLG_COLUMNS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
CE_COLUMNS = (("CE-P", "CE-P"), ("CE-R", "CE-R"), ("CE-F1", "CE-F1"))
MM_DIMS = ("vector", "direction", "length", "position", "duration")
#: (key, header, higher is better) for the scanpath table.
SCANPATH_COLUMNS = (
    ("scanmatch", "ScanMatch", True),
    ("sed", "SED", False),
    ("dtw", "DTW", False),
    ("nss", "NSS", True),
    ("auc_judd", "AUC-J", True),
    ("cc", "CC", True),
    ("kl", "KL", False),
    ("iou", "IoU", True),
)

#: Published reference points (other data sets, other models) quoted for context only.
REFERENCE_POINTS = {
    "R2GenGPT (MIMIC-CXR)": {"BLEU-4": 0.134, "ROUGE-L": 0.297, "CE-F1": 0.389},
    "MedGaze (EGD-CXR)": {"MultiMatch": 0.80, "CC": 0.50, "IoU": 0.41},
}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if math.isnan(v) else f"{v:.{digits}f}"


def multimatch_mean(scores: dict[str, Any] | None) -> float | None:
    """Mean of MultiMatch's five similarity dimensions (how MedGaze reports one MultiMatch number)."""
    if not scores or not isinstance(scores.get("multimatch"), dict):
        return None
    vals = [scores["multimatch"].get(d) for d in MM_DIMS]
    vals = [float(v) for v in vals if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else None


def main_table(results: dict[str, Any]) -> list[str]:
    """Rows = ablation rows; columns = NLG, CE (micro), and the headline scanpath metrics."""
    head = ["Model", *NLG_COLUMNS, *(h for _, h in CE_COLUMNS), "MultiMatch", "ScanMatch", "CC", "IoU"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    rows = results.get("rows", {})
    order = Row.values()
    for mode in [m for m in order if m in rows] + [m for m in rows if m not in order]:
        row = rows[mode]
        sp = row.get("scanpath")
        cells = [row.get("label", mode)]
        cells += [_fmt(row["nlg"].get(c)) for c in NLG_COLUMNS]
        cells += [_fmt(row["ce"].get(k)) for k, _ in CE_COLUMNS]
        cells += [_fmt(multimatch_mean(sp)), _fmt((sp or {}).get("scanmatch")), _fmt((sp or {}).get("cc")),
                  _fmt((sp or {}).get("iou"))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _label(results: dict[str, Any], row: str) -> str:
    return (results.get("rows", {}).get(row) or {}).get("label", row)


def differing_table(results: dict[str, Any]) -> list[str]:
    """For each pair of rows, the images whose drafts differ word for word (of the images scored)."""
    diff = results.get("differing_drafts") or {}
    pairs, n = diff.get("pairs") or [], diff.get("n", 0)
    if not pairs:
        return []
    lines = ["| Rows compared | Drafts that differ |", "|---|---:|"]
    for p in pairs:
        lines.append(f"| {_label(results, p['a'])} vs {_label(results, p['b'])} | {p['differ']} of {n} |")
    return lines


def differing_sentence(results: dict[str, Any]) -> str:
    """One line for the README: how many drafts gaze changes, pair by pair."""
    diff = results.get("differing_drafts") or {}
    pairs, n = diff.get("pairs") or [], diff.get("n", 0)
    if not pairs:
        return ""
    parts = "; ".join(f"{_label(results, p['a'])} vs {_label(results, p['b'])}: {p['differ']}" for p in pairs)
    return f"- Drafts that differ word for word between rows, of {n} images: {parts}."


def per_observation_table(results: dict[str, Any]) -> list[str]:
    """F1 per CheXpert observation and row, with the references that name it and real gaze's gains."""
    rows = results.get("rows") or {}
    per = results.get("per_observation") or {}
    support = per.get("reference_positives") or {}
    order = [r for r in Row.values() if r in rows] + [r for r in rows if r not in Row.values()]
    if not support or not order:
        return []
    gains = [(k, h) for k, h in (("real_gaze_minus_image_only", "Real − image only"),
                                 ("real_gaze_minus_shuffled_gaze", "Real − shuffled")) if k in per]  # fmt: skip
    head = ["Observation", "Positive refs", *(_label(results, r) for r in order), *(h for _, h in gains)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for obs, n in support.items():
        cells = [obs, str(n)]
        cells += [_fmt((rows[r].get("ce_per_observation") or {}).get(obs), 2) for r in order]
        cells += [_signed(per[k].get(obs)) for k, _ in gains]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _signed(value: Any) -> str:
    return "—" if value is None else f"{float(value):+.2f}"


def seeds_table(results: dict[str, Any]) -> list[str]:
    """CE-F1 over the decoding seeds, mean ± std per row and per compared pair of rows."""
    seeds = results.get("seeds") or {}
    used = seeds.get("decoding_seeds") or []
    if len(used) < 2:
        return []
    lines = [f"CE-F1 over {len(used)} decoding seeds ({', '.join(str(s) for s in used)}): mean ± sample std.", "",
             "| Row | CE-F1 | min | max |", "|---|---:|---:|---:|"]  # fmt: skip
    for row, s in (seeds.get("ce_f1") or {}).items():
        lines.append(f"| {_label(results, row)} | {_pm(s)} | {min(s['per_seed']):.3f} | {max(s['per_seed']):.3f} |")
    for gap in seeds.get("ce_f1_gaps") or []:
        lines.append(f"| {_label(results, gap['row'])} − {_label(results, gap['over'])} | {_pm(gap, signed=True)} | "
                     f"{min(gap['per_seed']):+.3f} | {max(gap['per_seed']):+.3f} |")  # fmt: skip
    return lines


def resampling_table(results: dict[str, Any]) -> list[str]:
    """Each compared pair's CE-F1 gap with its 95% paired bootstrap interval over the images."""
    gaps = results.get("image_resampling") or []
    if not gaps:
        return []
    lines = [f"CE-F1 gap with its 95% interval over {gaps[0]['resamples']} resamplings of the images (paired); "
             "an interval that holds 0 is no evidence either way.", "",
             "| Rows compared | CE-F1 gap | 95% interval |", "|---|---:|---:|"]  # fmt: skip
    for g in gaps:
        lines.append(f"| {_label(results, g['row'])} − {_label(results, g['over'])} | {float(g['gap']):+.3f} | "
                     f"{float(g['low']):+.3f} to {float(g['high']):+.3f} |")  # fmt: skip
    return lines


def _pm(spread: dict[str, Any], signed: bool = False) -> str:
    mean = f"{float(spread['mean']):+.3f}" if signed else f"{float(spread['mean']):.3f}"
    return mean + (f" ± {float(spread['std']):.3f}" if spread.get("std") is not None else "")


def scanpath_table(results: dict[str, Any]) -> list[str]:
    """Predicted vs recorded readers, and the inter-reader agreement on the same images (the ceiling)."""
    head = ["Scanpaths", *(f"MM-{d[:3]}" for d in MM_DIMS), "MM mean"]
    head += [h + ("" if hib else " ↓") for _, h, hib in SCANPATH_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    sp = results.get("scanpath", {})
    for key, label in (("predicted_vs_readers", "Predicted vs recorded readers"),
                       ("inter_reader_ceiling", "Inter-reader agreement (ceiling)")):  # fmt: skip
        scores = sp.get(key) or {}
        if not scores:
            lines.append("| " + label + " | " + " | ".join(["—"] * (len(head) - 1)) + " |")
            continue
        mm = scores.get("multimatch") or {}
        cells = [label, *(_fmt(mm.get(d)) for d in MM_DIMS), _fmt(multimatch_mean(scores))]
        cells += [_fmt(scores.get(k)) for k, _, _ in SCANPATH_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def distribution_table(results: dict[str, Any]) -> list[str]:
    """Human-likeness: Wasserstein-1 between predicted and recorded distributions, beside the readers'
    own level (one reader held out against the others); lower is more human-like."""
    sp = results.get("scanpath", {})
    dist, floor = sp.get("distributions") or {}, sp.get("reader_distributions") or {}
    if not dist:
        return []
    keys = ("saccade_amplitude", "fixation_duration", "fixation_count", "coverage")
    head = ["Distribution distance ↓", "saccade amplitude (image diagonals)", "fixation duration (s)",
            "fixation count", "coverage (8×8 cells)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines.append("| Predicted vs recorded readers | " + " | ".join(_fmt(dist.get(k)) for k in keys) + " |")
    lines.append("| Reader vs the other readers | " + " | ".join(_fmt(floor.get(k)) for k in keys) + " |")
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
    notes = [
        f"- {results.get('n_cases', '?')} images of the `{results.get('split', '?')}` split; readers per image: "
        f"{', '.join(str(n) for n in results.get('n_readers', [])) or '?'}. Reference report = "
        f"{results.get('reference', 'the first reader’s report')}.",
        "- NLG: pycocoevalcap on R2Gen-cleaned text (`ml/metrics/nlg.py`). CE: micro P/R/F1 over the 14 CheXpert "
        "observations from the rule labeler (`ml/metrics/labeler.py`), positive = 1; uncertain and unmentioned "
        "count as negative (`ml/metrics/clinical.py`).",
        "- Scanpath columns: the predicted scanpath against every recorded reader of the image, averaged per image "
        "then over images; MultiMatch = mean of its 5 dimensions. ↓ = lower is better.",
    ]
    rows = results.get("rows") or {}
    redraft = int((results.get("decoding") or {}).get("redraft") or 0)
    if redraft and any("redrafted" in r for r in rows.values()):
        counts = ", ".join(f"{r.get('label', m)} {int(r.get('redrafted', 0))}" for m, r in rows.items())
        notes.append(
            f"- Redrafted (`redraft` {redraft}: the first draft disagreed with the image model's findings and a "
            f"sampled draft agreed better, `ml/models/redraft.py`), images per row: {counts}."
        )
    domain = results.get("domain") or {}
    if domain.get("gate"):
        rows_flagged = ", ".join(
            f"{r.get('label', m)} {float(r['flagged']):.0%}" for m, r in rows.items() if r.get("flagged") is not None
        )
        notes.append(
            f"- Domain gate (`{domain['gate']}`, threshold {float(domain['threshold']):.3f}): "
            f"{float(domain['flagged']):.1%} of the split's {domain['images']} images flagged as unlike the "
            f"training images" + (f"; per row: {rows_flagged}." if rows_flagged else ".")
        )
    elif "domain" in results:
        notes.append("- Domain gate: none (the bundle carries no domain gate; no image is flagged or cleared).")
    for metric, reason in (results.get("skipped") or {}).items():
        notes.append(f"- {metric}: {reason}")
    for warning in results.get("warnings") or []:
        notes.append(f"- Note: {warning}")
    model = results.get("model") or {}
    if model:
        ident = ", ".join(
            f"{k}={model[k]}" for k in ("name", "version", "base_model", "untrained") if k in model
        )
        notes.append(f"- Model: {ident or model}")
    if results.get("seconds") is not None:
        t = results.get("timing") or {}
        parts = ", ".join(
            f"{label} {float(t[k]):.0f} s"
            for k, label in (
                ("generation_s", "generation"),
                ("scanpath_metrics_s", "scanpath metrics"),
                ("report_scoring_s", "report scoring"),
            )  # fmt: skip
            if t.get(k) is not None
        )
        jobs = int(results.get("jobs") or 1)
        if parts and jobs > 1:
            parts += f"; generation and scanpath metrics summed over {jobs} worker processes"
        notes.append(
            f"- Wall time ({results.get('device', 'cpu')}): {float(results['seconds']):.0f} s for the whole run"
            + (f" ({parts})." if parts else ".")
        )
    return notes


def results_markdown(results: dict[str, Any]) -> str:
    """The ``results.md`` written by ``main.py eval``."""
    lines = [
        "# Gaze2Report evaluation",
        "",
        f"Cohort: `{results.get('cohort', '')}` · bundle: `{results.get('bundle', '')}` · "
        f"split: `{results.get('split', '')}`. Generated by `python main.py eval` (do not edit by hand).",
        "",
        "## Report generation (ablation)",
        "",
        *main_table(results),
        "",
        *_section("Do the rows differ?", differing_table(results)),
        *_section("Run-to-run spread", seeds_table(results)),
        *_section("Gaps over resampled images", resampling_table(results)),
        *_section("Per observation (CE F1; — where no reference and no draft names it)", per_observation_table(results)),
        "## Scanpath prediction",
        "",
        *scanpath_table(results),
        "",
        *distribution_table(results),
        "",
        "## Notes",
        "",
        *_notes(results),
        "",
    ]
    return "\n".join(lines)


def _section(title: str, body: list[str]) -> list[str]:
    return [f"### {title}", "", *body, ""] if body else []


def readme_section(results_json: str | Path | dict[str, Any]) -> str:
    """The README's results section, generated from an ``eval`` run's ``results.json``."""
    results = results_json if isinstance(results_json, dict) else json.loads(Path(results_json).read_text())
    ref = REFERENCE_POINTS
    lines = [
        "## Results",
        "",
        "**These numbers are on the synthetic cohort** (radiographs rendered from one real CT with injected "
        "findings, simulated readers and template-written reports; see `python main.py cohort`). They show that "
        "the pipeline runs end to end and how the ablation rows compare with each other; they are not comparable "
        "with published results on real data until someone runs `python main.py eval` on the credentialed "
        "datasets (REFLACX / EGD-CXR with MIMIC-CXR images) with the loaders in `ml/datasets/`.",
        "",
        *main_table(results),
        "",
        *scanpath_table(results),
        "",
        *_notes(results),
        *[line for line in [differing_sentence(results)] if line],
        "",
        *(seeds + [""] if (seeds := seeds_table(results)) else []),
        *(gaps + [""] if (gaps := resampling_table(results)) else []),
        "Published reference points on real data (other data sets, other models; quoted for context, "
        "not produced by this repository):",
        "",
        f"- R2GenGPT on MIMIC-CXR: BLEU-4 {ref['R2GenGPT (MIMIC-CXR)']['BLEU-4']:.3f}, ROUGE-L "
        f"{ref['R2GenGPT (MIMIC-CXR)']['ROUGE-L']:.3f}, CE-F1 {ref['R2GenGPT (MIMIC-CXR)']['CE-F1']:.3f} "
        "(CE with CheXbert; ours uses the rule labeler validated in `docs/labeler_agreement.md`).",
        f"- MedGaze on EGD-CXR: MultiMatch {ref['MedGaze (EGD-CXR)']['MultiMatch']:.2f}, CC "
        f"{ref['MedGaze (EGD-CXR)']['CC']:.2f}, IoU {ref['MedGaze (EGD-CXR)']['IoU']:.2f}.",
        "",
    ]
    return "\n".join(lines)


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


class ReadmeError(ValueError):
    """The README has no results markers to replace between."""


def update_readme(readme: str | Path, results_json: str | Path | dict[str, Any]) -> Path:
    """Replace the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in ``readme``
    with :func:`readme_section` of the run, so the README's numbers always come from a run."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ReadmeError(
            f"{path}: add the markers {README_START} and {README_END} where the results section goes"
        )
    new = text[: start + len(README_START)] + "\n" + readme_section(results_json) + "\n" + text[end:]
    path.write_text(new, encoding="utf-8")
    return path
