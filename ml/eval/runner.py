"""The ablation run behind the results table: each gaze mode through one model, scored as papers do.

Data flow: cohort folder (REFLACX layout) → ``ml.datasets.load_reflacx`` → readings grouped by
image (``metadata["dicom_id"]``) → for each image of the split, the *primary reading* (the first
reader's, by reading id) gives the reference report and the real scanpath, every reader's
scanpath serves the scanpath metrics → the model drafts one report per gaze mode →
BLEU/METEOR/ROUGE-L/CIDEr (``ml.metrics.nlg``), CE (``ml.metrics.clinical`` on the rule labeler),
and predicted-vs-recorded scanpath metrics with the inter-reader ceiling (``ml.metrics``).

The model is any ``ReportModel`` whose ``generate`` accepts ``mode=`` (a ``GazeMode``), as
``ml.models.bundle.load_bundle`` returns; tests use a small fake.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.contracts import Decoding, GazeMode, ReportModel
from ml.types import Image, Scanpath, Study


class EvalError(RuntimeError):
    """The evaluation cannot run (no data in the split, a model without gaze modes...)."""


@dataclass
class Case:
    """One image of the split: its reference (primary reading) and every reader's scanpath."""

    id: str
    image_path: str
    reference: str
    scanpaths: list[Scanpath]
    readings: list[Study] = field(default_factory=list)

    @property
    def primary_scanpath(self) -> Scanpath | None:
        return self.scanpaths[0] if self.scanpaths else None


@dataclass
class EvalConfig:
    split: str = "test"
    limit: int | None = None
    modes: tuple[GazeMode | str, ...] = tuple(GazeMode)  # the ablation rows, in table order
    decoding: Decoding = field(default_factory=lambda: Decoding(max_new_tokens=120))
    meteor: bool = True
    seed: int = 0
    examples: int = 3
    progress: bool = True


def report_text(study: Study) -> str:
    if study.report is None:
        return ""
    return f"{study.report.findings} {study.report.impression}".strip()


def cases_from_studies(
    studies: list[Study], split: str | None = "test", limit: int | None = None
) -> list[Case]:
    """Group readings by image and keep the split's images (first ``limit`` by image id)."""
    chosen = [s for s in studies if split in (None, "", "all") or (s.split or "").lower() == split.lower()]
    if not chosen:
        splits = sorted({s.split or "(none)" for s in studies})
        raise EvalError(
            f"no readings in split '{split}' (the data has: {', '.join(splits) or 'no readings'})"
        )
    groups: dict[str, list[Study]] = {}
    for s in chosen:
        key = str(s.metadata.get("dicom_id") or s.image_path or s.id)
        groups.setdefault(key, []).append(s)
    cases = []
    for key in sorted(groups):
        readings = sorted(groups[key], key=lambda s: str(s.metadata.get("reading_id") or s.id))
        primary = readings[0]
        image = str(primary.metadata.get("image_png") or primary.image_path or "")
        if not image or not Path(image).exists():
            image = primary.image_path
        scanpaths = [sp for r in readings for sp in r.scanpaths[:1] if sp.fixations]
        cases.append(Case(key, image, report_text(primary), scanpaths, readings))
    return cases[:limit] if limit else cases


def cases_from_cohort_cases(
    studies: list[Study], split: str | None = "test", limit: int | None = None
) -> list[Case]:
    """Cases from per-image cohort studies (``load_cohort(per="case")``): the reference is the
    ground-truth report that mentions every injected finding, the scanpaths are all readers'."""
    chosen = [s for s in studies if split in (None, "", "all") or (s.split or "").lower() == split.lower()]
    if not chosen:
        splits = sorted({s.split or "(none)" for s in studies})
        raise EvalError(f"no images in split '{split}' (the cohort has: {', '.join(splits) or 'no images'})")
    cases = []
    for s in sorted(chosen, key=lambda s: s.id):
        png = str(s.metadata.get("png") or "")
        image = png if png and Path(png).exists() else s.image_path
        scanpaths = sorted((sp for sp in s.scanpaths if sp.fixations), key=lambda sp: sp.reader)
        cases.append(Case(s.id, image, report_text(s), scanpaths, [s]))
    return cases[:limit] if limit else cases


def load_cases(cohort: str | Path, split: str = "test", limit: int | None = None) -> tuple[list[Case], str]:
    """Cases of a cohort folder (``cases.csv``: ground-truth reference reports) or of a
    REFLACX-shaped folder (reference = the first reader's report); also says which reference."""
    root = Path(cohort)
    if (root / "cases.csv").is_file():
        from ml.cohort.load import load_cohort

        return cases_from_cohort_cases(load_cohort(root, per="case"), split, limit), "ground-truth report"
    from ml.datasets import load_reflacx

    return cases_from_studies(load_reflacx(root), split, limit), "first reader's report"


def _accepts_mode(model: ReportModel) -> bool:
    try:
        params = inspect.signature(model.generate).parameters
    except (TypeError, ValueError):
        return False
    return "mode" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _load_image(path: str) -> Image:
    from ml.imaging import load_image

    return load_image(path)


def run_eval(
    model: ReportModel,
    cases: list[Case],
    config: EvalConfig | None = None,
    image_loader: Callable[[str], Image] = _load_image,
    reference: str = "first reader's report",
    jobs: int = 1,
) -> dict[str, Any]:
    """Generate a report per case and gaze mode, score every row; returns the ``results.json`` dict.

    With ``jobs`` > 1, ``model`` is a picklable zero-argument callable that builds the model: each
    of ``jobs`` worker processes loads its own copy and drafts a contiguous share of the cases.
    Drafts are seeded per call, so the rows are the same as with one job; the drafting is nearly
    all of an evaluation's time, and the workers share it where the CPU has cores to spare.
    """
    from ml import metrics
    from ml.metrics.clinical import clinical_efficacy
    from ml.metrics.labeler import Labeler
    from ml.metrics.nlg import compute_nlg

    config = config or EvalConfig()
    unknown = [str(m) for m in config.modes if m not in GazeMode.values()]
    if unknown:
        raise EvalError(f"unknown gaze mode(s) {', '.join(unknown)} (one of {', '.join(GazeMode.values())})")
    config = dataclasses.replace(config, modes=tuple(GazeMode(m) for m in config.modes))
    if not cases:
        raise EvalError("no cases to evaluate")
    if jobs < 1:
        raise EvalError(f"jobs must be at least 1, not {jobs}")
    if jobs == 1 and not _accepts_mode(model):
        raise EvalError(_NO_MODES)

    warnings: list[str] = []
    if GazeMode.REAL_GAZE in config.modes:
        missing = [c.id for c in cases if c.primary_scanpath is None]
        if missing:
            warnings.append(
                f"{len(missing)} image(s) without a recorded scanpath left out of every row (real gaze needs one): "
                + ", ".join(missing[:5])
                + (" ..." if len(missing) > 5 else "")
            )
            cases = [c for c in cases if c.primary_scanpath is not None]
        if not cases:
            raise EvalError("no image of the split has a recorded scanpath, so the real-gaze row cannot run")

    labeler = Labeler()
    started = time.perf_counter()
    if jobs > 1:
        drafted = _draft_in_processes(model, cases, config, image_loader, reference, jobs)
    else:
        drafted = _draft(model, cases, config, image_loader, reference)
    generated, seconds = drafted["generated"], drafted["seconds"]
    per_case, examples = drafted["per_case"], drafted["examples"]
    predicted_vs_readers, ceilings = drafted["predicted_vs_readers"], drafted["ceilings"]

    t_score = time.perf_counter()
    references = [c.reference for c in cases]
    ref_labels = [labeler.label(t) for t in references]
    rows: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for mode in config.modes:
        nlg = compute_nlg(references, generated[mode], meteor=config.meteor)
        skipped.update(nlg.skipped)
        ce = clinical_efficacy(ref_labels, [labeler.label(t) for t in generated[mode]])
        rows[mode] = {
            "label": mode.label,
            "nlg": nlg.scores,
            "ce": ce.as_dict(),
            "ce_per_observation": {k: v.f1 for k, v in ce.per_observation.items()},
            "seconds_per_report": seconds[mode] / len(cases),
            "redrafted": sum(mode in c.get("redrafted", ()) for c in per_case),
            "flagged": _flagged_share([c.get("out_of_domain", {}).get(mode) for c in per_case]),
        }
        if mode in (GazeMode.PREDICTED, GazeMode.NO_GNN) and predicted_vs_readers:
            rows[mode]["scanpath"] = _jsonable(metrics.mean_metrics(predicted_vs_readers))
    results = {
        "n_cases": len(cases),
        "n_readers": sorted({len(c.scanpaths) for c in cases}),
        "split": config.split,
        "reference": reference,
        "model": _jsonable(drafted["info"]),
        "decoding": vars(config.decoding),
        "rows": rows,
        "domain": _domain_summary(per_case),
        "scanpath": {
            "predicted_vs_readers": _jsonable(metrics.mean_metrics(predicted_vs_readers))
            if predicted_vs_readers
            else {},
            "inter_reader_ceiling": _jsonable(metrics.mean_metrics(ceilings)) if ceilings else {},
        },
        "skipped": skipped,
        "warnings": warnings,
        "seconds": time.perf_counter() - started,
        "jobs": jobs,  # > 1: generation and scanpath-metric seconds are summed over the workers
        "timing": {
            "generation_s": sum(seconds.values()),
            "scanpath_metrics_s": drafted["scanpath_seconds"],
            "report_scoring_s": time.perf_counter() - t_score,
        },
        "cases": per_case,
    }
    results["_examples"] = examples  # not JSON: figures.py draws them; write_outputs drops the key
    return results


_NO_MODES = "the model's generate() takes no mode= argument, so the ablation rows cannot be run"


def _flagged_share(flags: list[bool | None]) -> float | None:
    """Share of drafts flagged out of domain; None when no draft carried a domain check."""
    known = [f for f in flags if f is not None]
    return sum(known) / len(known) if known else None


def _domain_summary(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """The split's share of images the domain gate flags (the gate sees the image, not the gaze
    mode, so every row flags the same images), with the gate's method and threshold."""
    checks = [c["domain"] for c in per_case if c.get("domain")]
    if not checks:
        return {"gate": None, "note": "no domain gate: the bundle carries none"}
    return {
        "gate": checks[0]["method"],
        "threshold": checks[0]["threshold"],
        "images": len(checks),
        "flagged": sum(not c["in_domain"] for c in checks) / len(checks),
        "flagged_ids": [c["id"] for c in per_case if c.get("domain") and not c["domain"]["in_domain"]],
    }


def _draft(
    model: ReportModel,
    cases: list[Case],
    config: EvalConfig,
    image_loader: Callable[[str], Image],
    reference: str,
    position: int = 0,
    desc: str = "eval",
) -> dict[str, Any]:
    """Draft every case in every mode and score its scanpaths; the per-case half of ``run_eval``."""
    from tqdm import tqdm

    from ml import metrics

    generated: dict[str, list[str]] = {m: [] for m in config.modes}
    seconds: dict[str, float] = dict.fromkeys(config.modes, 0.0)
    per_case: list[dict[str, Any]] = []
    predicted_vs_readers: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    scanpath_seconds = 0.0
    bar = tqdm(
        total=len(cases) * len(config.modes),
        desc=desc,
        unit="report",
        position=position,
        disable=not config.progress,
    )
    for case in cases:
        image = image_loader(case.image_path)
        size = image.size
        entry: dict[str, Any] = {
            "id": case.id,
            "reference": case.reference,
            "generated": {},
            "readers": len(case.scanpaths),
        }
        drafts = {}
        for mode in config.modes:
            scanpath = case.primary_scanpath if mode == GazeMode.REAL_GAZE else None
            t0 = time.perf_counter()
            draft = model.generate(image, scanpath=scanpath, decoding=config.decoding, mode=mode)  # type: ignore[call-arg]
            seconds[mode] += time.perf_counter() - t0
            generated[mode].append(draft.text)
            entry["generated"][mode] = draft.text
            drafts[mode] = draft
            bar.update(1)
        entry["redrafted"] = [m for m, d in drafts.items() if d.redrafted]
        entry["out_of_domain"] = {
            m: not d.domain.in_domain for m, d in drafts.items() if getattr(d, "domain", None) is not None
        }
        checks = [d.domain for d in drafts.values() if getattr(d, "domain", None) is not None]
        if checks:
            entry["domain"] = dataclasses.asdict(checks[0])
        # scanpath metrics: the predicted scanpath (the one the predicted row used) vs every reader
        t_sp = time.perf_counter()
        pred = (
            drafts[GazeMode.PREDICTED].scanpath
            if GazeMode.PREDICTED in drafts and drafts[GazeMode.PREDICTED].scanpath
            else None
        )
        if pred is None:
            pred = model.predict_scanpaths(image, n=1, seed=config.seed)[0]
        if case.scanpaths:
            scores = metrics.compare_to_readers(pred, case.scanpaths, size)
            predicted_vs_readers.append(scores)
            entry["scanpath"] = _jsonable(scores)
        if len(case.scanpaths) >= 2:
            ceiling = metrics.inter_reader_agreement(case.scanpaths, size)
            ceilings.append(ceiling)
            entry["inter_reader"] = _jsonable(ceiling)
        scanpath_seconds += time.perf_counter() - t_sp
        per_case.append(entry)
        if len(examples) < config.examples:
            examples.append(
                {"case": case, "image": image, "drafts": drafts, "predicted": pred, "reference": reference}
            )
    bar.close()
    return {
        "info": model.info(),
        "generated": generated,
        "seconds": seconds,
        "per_case": per_case,
        "predicted_vs_readers": predicted_vs_readers,
        "ceilings": ceilings,
        "examples": examples,
        "scanpath_seconds": scanpath_seconds,
    }


def _draft_shard(
    make_model: Callable[[], ReportModel],
    cases: list[Case],
    config: EvalConfig,
    image_loader: Callable[[str], Image],
    reference: str,
    position: int,
    jobs: int,
) -> dict[str, Any]:
    """One worker process: build the model, draft its share of the cases."""
    model = make_model()
    if not _accepts_mode(model):
        raise EvalError(_NO_MODES)
    return _draft(model, cases, config, image_loader, reference, position, f"eval [{position + 1}/{jobs}]")


def _draft_in_processes(
    make_model: Callable[[], ReportModel],
    cases: list[Case],
    config: EvalConfig,
    image_loader: Callable[[str], Image],
    reference: str,
    jobs: int,
) -> dict[str, Any]:
    """Split the cases into ``jobs`` contiguous shares, draft them in spawned processes, merge in order.

    Spawned, not forked: a fork after torch has started its thread pool can hang the child.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jobs = min(jobs, len(cases))
    bounds = [round(i * len(cases) / jobs) for i in range(jobs + 1)]
    shares = [cases[bounds[i] : bounds[i + 1]] for i in range(jobs)]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(_draft_shard, make_model, share, config, image_loader, reference, i, jobs)
            for i, share in enumerate(shares)
        ]
        parts = [f.result() for f in futures]
    merged = {
        "info": parts[0]["info"],
        "generated": {m: [t for p in parts for t in p["generated"][m]] for m in config.modes},
        "seconds": {m: sum(p["seconds"][m] for p in parts) for m in config.modes},
        "scanpath_seconds": sum(p["scanpath_seconds"] for p in parts),
    }
    for key in ("per_case", "predicted_vs_readers", "ceilings", "examples"):
        merged[key] = [x for p in parts for x in p[key]]
    merged["examples"] = merged["examples"][: config.examples]
    return merged


def _jsonable(obj: Any) -> Any:
    """NaN → None and numpy scalars → floats, recursively, so results.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if isinstance(obj, int):
        return obj
    try:
        value = float(obj)
    except (TypeError, ValueError):
        return str(obj)
    return None if math.isnan(value) or math.isinf(value) else value


def write_outputs(
    results: dict[str, Any], out: str | Path, cohort: str = "", bundle: str = ""
) -> dict[str, Path]:
    """Write results.json, results.md and the example PNGs into ``out``; returns their paths."""
    import json

    from ml.eval.figures import example_figures
    from ml.eval.table import results_markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    examples = results.pop("_examples", [])
    results.setdefault("cohort", str(cohort))
    results.setdefault("bundle", str(bundle))
    paths = {"json": out / "results.json", "md": out / "results.md"}
    paths["json"].write_text(json.dumps(_jsonable(results), indent=2) + "\n")
    paths["md"].write_text(results_markdown(results))
    for i, png in enumerate(example_figures(examples, out)):
        paths[f"example_{i}"] = png
    return paths
