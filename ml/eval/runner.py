"""The ablation run behind the results table: each row (a gaze mode, its scanpath) through one model, scored.

Data flow: cohort folder (REFLACX layout) → ``ml.datasets.load_reflacx`` → readings grouped by
image (``metadata["dicom_id"]``) → for each image of the split, the *primary reading* (the first
reader's, by reading id) gives the reference report and the real scanpath, every reader's
scanpath serves the scanpath metrics → the model drafts one report per row (a ``Row``: a gaze
mode and the scanpath it is given) → BLEU/METEOR/ROUGE-L/CIDEr (``ml.metrics.nlg``), CE
(``ml.metrics.clinical`` on the rule labeler), per observation too, and predicted-vs-recorded
scanpath metrics with the inter-reader ceiling (``ml.metrics``).

An ablation is only a test if its rows can differ, so the run also counts, for every pair of rows,
the images whose drafts differ word for word, and with ``seeds`` > 1 repeats the drafting with
more decoding seeds to give each row's run-to-run spread of CE-F1, and gives each compared gap a
bootstrap interval over the images (a gap inside either noise is not evidence).

The model is any ``ReportModel`` whose ``generate`` accepts ``mode=`` (a ``GazeMode``), as
``ml.models.bundle.load_bundle`` returns; tests use a small fake.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.contracts import Decoding, GazeMode, ReportModel
from ml.types import Image, Scanpath, Study, Vocabulary


class EvalError(RuntimeError):
    """The evaluation cannot run (no data in the split, a model without gaze modes...)."""


class Row(Vocabulary):
    """A row of the ablation table: a gaze mode, and which scanpath the model is given with it."""

    IMAGE_ONLY = "image_only"
    REAL_GAZE = "real_gaze"
    SHUFFLED_GAZE = "shuffled_gaze"  # the recorded scanpath with its positions permuted (``shuffle_positions``)
    PREDICTED = "predicted"
    NO_GNN = "no_gnn"

    @property
    def mode(self) -> GazeMode:
        """The gaze mode the model drafts in: a shuffled scanpath is fed as real gaze."""
        return GazeMode.REAL_GAZE if self is Row.SHUFFLED_GAZE else GazeMode(self.value)

    @property
    def label(self) -> str:
        """The row's name in results tables."""
        return "Real gaze, shuffled positions" if self is Row.SHUFFLED_GAZE else self.mode.label


def shuffle_positions(scanpath: Scanpath, seed: int, key: str = "") -> Scanpath:
    """The scanpath with its fixation positions permuted across its fixations (seeded by ``seed``
    and ``key``, e.g. the image id); durations, timing, order and reader are kept.

    The control for "where the reader looked": every token still sits on a place a reader fixated
    on this image (on the chest, at a reader's density, so the model sees nothing it never saw in
    training) with the reader's number of fixations and dwell times, but which place got the long
    dwell, the revisits and which places follow each other are broken. Positions drawn uniformly
    within the lung field would test more (whether any place on the chest serves as well), but
    no lung field is at hand for every data set's images at evaluation time. A permutation that
    leaves every position in place is drawn again (unless fewer than two distinct positions).
    """
    fixations = scanpath.fixations
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    order = np.arange(len(fixations))
    perm = rng.permutation(order)
    distinct = {(f.x, f.y) for f in fixations}
    while len(distinct) > 1 and all(
        (fixations[i].x, fixations[i].y) == (fixations[j].x, fixations[j].y) for i, j in zip(order, perm, strict=True)
    ):
        perm = rng.permutation(order)
    moved = [dataclasses.replace(f, x=fixations[j].x, y=fixations[j].y) for f, j in zip(fixations, perm, strict=True)]
    return Scanpath(moved, scanpath.image_size, scanpath.source, scanpath.reader)


def same_words(a: str, b: str) -> bool:
    """Whether two drafts say the same words in the same order (spacing aside)."""
    return a.split() == b.split()


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
    # The ablation rows, in table order. The shuffled-gaze row is on by default although it adds a
    # draft per image (a quarter more generation): without it the real-gaze row cannot tell the
    # reader's gaze from any gaze tokens of that length, which is what the ablation asks.
    rows: tuple[Row | str, ...] = tuple(Row)
    decoding: Decoding = field(default_factory=lambda: Decoding(max_new_tokens=120))
    meteor: bool = True
    seed: int = 0
    seeds: int = 1  # runs, with decoding seeds decoding.seed, +1, ...; > 1 measures each row's spread
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
    """Generate a report per case and row, score every row; returns the ``results.json`` dict.

    With ``jobs`` > 1, ``model`` is a picklable zero-argument callable that builds the model: each
    of ``jobs`` worker processes loads its own copy and drafts a contiguous share of the cases.
    Drafts are seeded per call, so the rows are the same as with one job; the drafting is nearly
    all of an evaluation's time, and the workers share it where the CPU has cores to spare.

    With ``config.seeds`` > 1 the drafting is repeated with the decoding seed (it seeds the predicted
    scanpath and sampled redrafts) and ``config.seed`` (the shuffle) raised by 1 each time; the rows,
    cases and scanpath metrics are those of the first seed, ``results["seeds"]`` has every seed's CE-F1.
    """
    from ml import metrics
    from ml.metrics.clinical import clinical_efficacy
    from ml.metrics.distributions import distribution_distances, reader_baseline
    from ml.metrics.labeler import Labeler
    from ml.metrics.nlg import compute_nlg

    config = config or EvalConfig()
    unknown = [str(r) for r in config.rows if r not in Row.values()]
    if unknown:
        raise EvalError(f"unknown row(s) {', '.join(unknown)} (one of {', '.join(Row.values())})")
    config = dataclasses.replace(config, rows=tuple(Row(r) for r in config.rows))
    if not cases:
        raise EvalError("no cases to evaluate")
    if jobs < 1:
        raise EvalError(f"jobs must be at least 1, not {jobs}")
    if config.seeds < 1:
        raise EvalError(f"seeds must be at least 1, not {config.seeds}")
    if jobs == 1 and not _accepts_mode(model):
        raise EvalError(_NO_MODES)

    warnings: list[str] = []
    if any(r.mode == GazeMode.REAL_GAZE for r in config.rows):
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
    runs = []
    for k in range(config.seeds):
        run_config = _seeded(config, k)
        if jobs > 1:
            runs.append(_draft_in_processes(model, cases, run_config, image_loader, reference, jobs))
        else:
            runs.append(_draft(model, cases, run_config, image_loader, reference))
    drafted = runs[0]
    generated = drafted["generated"]
    per_case, examples = drafted["per_case"], drafted["examples"]
    predicted_vs_readers, ceilings = drafted["predicted_vs_readers"], drafted["ceilings"]
    seconds = {r: sum(run["seconds"][r] for run in runs) for r in config.rows}

    t_score = time.perf_counter()
    references = [c.reference for c in cases]
    ref_labels = [labeler.label(t) for t in references]
    rows: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    labels = {row: [labeler.label(t) for t in generated[row]] for row in config.rows}
    for row in config.rows:
        nlg = compute_nlg(references, generated[row], meteor=config.meteor)
        skipped.update(nlg.skipped)
        ce = clinical_efficacy(ref_labels, labels[row])
        rows[row] = {
            "label": row.label,
            "nlg": nlg.scores,
            "ce": ce.as_dict(),
            # None where F1 is undefined: no reference and no draft names the observation
            "ce_per_observation": {k: v.f1 if v.tp + v.fp + v.fn else None for k, v in ce.per_observation.items()},
            "seconds_per_report": seconds[row] / (len(cases) * config.seeds),
            "redrafted": sum(row in c.get("redrafted", ()) for c in per_case),
            "flagged": _flagged_share([c.get("out_of_domain", {}).get(row) for c in per_case]),
        }
        if row in (Row.PREDICTED, Row.NO_GNN) and predicted_vs_readers:
            rows[row]["scanpath"] = _jsonable(metrics.mean_metrics(predicted_vs_readers))
    seed_f1 = {
        row: [
            clinical_efficacy(ref_labels, [labeler.label(t) for t in run["generated"][row]]).micro.f1 for run in runs
        ]
        for row in config.rows
    }
    results = {
        "n_cases": len(cases),
        "n_readers": sorted({len(c.scanpaths) for c in cases}),
        "split": config.split,
        "reference": reference,
        "model": _jsonable(drafted["info"]),
        "decoding": vars(config.decoding),
        "rows": rows,
        "differing_drafts": differing_drafts(generated),
        "per_observation": _per_observation(rows, ref_labels),
        "seeds": _seed_spread(seed_f1, [config.decoding.seed + k for k in range(config.seeds)]),
        "image_resampling": image_resampling(ref_labels, labels, seed=config.seed),
        "domain": _domain_summary(per_case),
        "scanpath": {  # ml.metrics' predicted-vs-recorded scores; distances of distributions belong here too
            "predicted_vs_readers": _jsonable(metrics.mean_metrics(predicted_vs_readers))
            if predicted_vs_readers
            else {},
            "inter_reader_ceiling": _jsonable(metrics.mean_metrics(ceilings)) if ceilings else {},
            # Wasserstein-1 between predicted and recorded distributions of saccade amplitude, fixation
            # duration, fixation count and coverage, and the readers' own level (one held out in turn)
            "distributions": _jsonable(
                distribution_distances(drafted["predicted_paths"], [p for g in drafted["reader_paths"] for p in g])
            )
            if drafted["predicted_paths"]
            else {},
            "reader_distributions": _jsonable(reader_baseline(drafted["reader_paths"])),
        },
        "skipped": skipped,
        "warnings": warnings,
        "seconds": time.perf_counter() - started,
        "jobs": jobs,  # > 1: generation and scanpath-metric seconds are summed over the workers
        "timing": {
            "generation_s": sum(seconds.values()),
            "scanpath_metrics_s": sum(run["scanpath_seconds"] for run in runs),
            "report_scoring_s": time.perf_counter() - t_score,
        },
        "cases": per_case,
    }
    results["_examples"] = examples  # not JSON: figures.py draws them; write_outputs drops the key
    return results


def _seeded(config: EvalConfig, k: int) -> EvalConfig:
    """The config of the ``k``-th seeded run: every seed raised by ``k``; examples from the first only."""
    if k == 0:
        return config
    decoding = dataclasses.replace(config.decoding, seed=config.decoding.seed + k)
    return dataclasses.replace(config, seed=config.seed + k, decoding=decoding, examples=0)


def differing_drafts(generated: dict[str, list[str]]) -> dict[str, Any]:
    """For every pair of rows (in row order), how many images' drafts differ word for word."""
    texts = list(generated.values())
    return {
        "n": len(texts[0]) if texts else 0,
        "pairs": [
            {"a": a, "b": b, "differ": sum(not same_words(x, y) for x, y in zip(generated[a], generated[b], strict=True))}
            for a, b in itertools.combinations(generated, 2)
        ],
    }


def _per_observation(rows: dict[str, Any], ref_labels: list[dict[str, Any]]) -> dict[str, Any]:
    """Per CheXpert observation: the references that name it (positive), and real gaze's F1 minus
    image only's and minus shuffled gaze's where both rows ran and both F1 are defined."""
    from ml.types import CHEXPERT_OBSERVATIONS

    out: dict[str, Any] = {
        "reference_positives": {o: sum(lab.get(o) == 1 for lab in ref_labels) for o in CHEXPERT_OBSERVATIONS}
    }
    real = (rows.get(Row.REAL_GAZE) or {}).get("ce_per_observation")
    for other in (Row.IMAGE_ONLY, Row.SHUFFLED_GAZE):
        base = (rows.get(other) or {}).get("ce_per_observation")
        if real is not None and base is not None:
            out[f"real_gaze_minus_{other}"] = {
                o: real[o] - base[o] if real.get(o) is not None and base.get(o) is not None else None
                for o in CHEXPERT_OBSERVATIONS
            }
    return out


#: The row pairs whose CE-F1 gap the ablation is read on: (row, the row it should beat).
COMPARISONS = (
    (Row.REAL_GAZE, Row.IMAGE_ONLY),
    (Row.REAL_GAZE, Row.SHUFFLED_GAZE),
    (Row.PREDICTED, Row.IMAGE_ONLY),
    (Row.PREDICTED, Row.NO_GNN),
)


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "per_seed": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,  # sample std; none from one run
    }


def image_resampling(
    ref_labels: list[dict[str, Any]], labels: dict[str, list[dict[str, Any]]], resamples: int = 2000, seed: int = 0
) -> list[dict[str, Any]]:
    """For each comparison whose rows both ran: the CE-F1 gap and its 95% paired bootstrap interval
    over the images (the same resampled images for both rows).

    The seeds' spread is the decoding's noise; this is the noise of which images the split holds,
    and with greedy first drafts, where image-only and real-gaze drafts do not depend on the seed,
    the one that says whether a gap between them would hold on other images.
    """
    from ml.metrics.clinical import clinical_efficacy

    def counts(row: str) -> np.ndarray:  # (images, 3): TP, FP, FN of each image's draft
        return np.array(
            [[(m := clinical_efficacy([r], [g]).micro).tp, m.fp, m.fn] for r, g in zip(ref_labels, labels[row], strict=True)],
            dtype=np.float64,
        ).reshape(-1, 3)

    def f1(c: np.ndarray) -> np.ndarray:  # micro F1 of summed counts, 0 where undefined (as clinical.py)
        tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
        den = 2 * tp + fp + fn
        return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ref_labels), size=(resamples, len(ref_labels)))
    out = []
    for a, b in COMPARISONS:
        if a not in labels or b not in labels:
            continue
        ca, cb = counts(a), counts(b)
        gaps = f1(ca[picks].sum(axis=1)) - f1(cb[picks].sum(axis=1))
        low, high = np.percentile(gaps, [2.5, 97.5])
        gap = float(f1(ca.sum(axis=0)) - f1(cb.sum(axis=0)))
        out.append({"row": a, "over": b, "gap": gap, "low": float(low), "high": float(high), "resamples": resamples})
    return out


def _seed_spread(f1: dict[str, list[float]], seeds: list[int]) -> dict[str, Any]:
    """Each row's CE-F1 per decoding seed with its mean and standard deviation, and the same for the
    seed-by-seed gap of each comparison whose rows both ran."""
    return {
        "decoding_seeds": seeds,
        "ce_f1": {row: _spread(values) for row, values in f1.items()},
        "ce_f1_gaps": [
            {"row": a, "over": b, **_spread([x - y for x, y in zip(f1[a], f1[b], strict=True)])}
            for a, b in COMPARISONS
            if a in f1 and b in f1
        ],
    }


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
    """Draft every case in every row and score its scanpaths; the per-case half of ``run_eval``."""
    from tqdm import tqdm

    from ml import metrics

    generated: dict[str, list[str]] = {r: [] for r in config.rows}
    seconds: dict[str, float] = dict.fromkeys(config.rows, 0.0)
    per_case: list[dict[str, Any]] = []
    predicted_vs_readers: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    predicted_paths: list[Scanpath] = []  # for the distances between distributions, pooled over images
    reader_paths: list[list[Scanpath]] = []
    examples: list[dict[str, Any]] = []
    scanpath_seconds = 0.0
    bar = tqdm(
        total=len(cases) * len(config.rows),
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
        for row in config.rows:
            scanpath = case.primary_scanpath if row.mode == GazeMode.REAL_GAZE else None
            if row == Row.SHUFFLED_GAZE and scanpath is not None:
                scanpath = shuffle_positions(scanpath, config.seed, case.id)
            t0 = time.perf_counter()
            draft = model.generate(image, scanpath=scanpath, decoding=config.decoding, mode=row.mode)  # type: ignore[call-arg]
            seconds[row] += time.perf_counter() - t0
            generated[row].append(draft.text)
            entry["generated"][row] = draft.text
            drafts[row] = draft
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
        pred = drafts[Row.PREDICTED].scanpath if Row.PREDICTED in drafts and drafts[Row.PREDICTED].scanpath else None
        if pred is None:
            pred = model.predict_scanpaths(image, n=1, seed=config.seed)[0]
        if case.scanpaths:
            scores = metrics.compare_to_readers(pred, case.scanpaths, size)
            predicted_vs_readers.append(scores)
            predicted_paths.append(pred)
            reader_paths.append(list(case.scanpaths))
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
        "predicted_paths": predicted_paths,
        "reader_paths": reader_paths,
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
        "generated": {r: [t for p in parts for t in p["generated"][r]] for r in config.rows},
        "seconds": {r: sum(p["seconds"][r] for p in parts) for r in config.rows},
        "scanpath_seconds": sum(p["scanpath_seconds"] for p in parts),
    }
    for key in ("per_case", "predicted_vs_readers", "ceilings", "predicted_paths", "reader_paths", "examples"):
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
