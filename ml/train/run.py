"""A training run: config → run directory → stages → bundle + evaluation summary.

The run directory holds ``config.json`` (the resolved config), ``train.log``, ``metrics.jsonl``,
``curves.png``, ``checkpoints/`` (one per stage: trainable weights, optimiser, step), the data
cache and, at the end, ``bundle/`` (the model bundle, with ``training_log.txt`` and
``eval_summary.json`` next to the manifest).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from ml.models.config import Config, ConfigError, load_config

log = logging.getLogger("gaze2report.train")


class RunError(RuntimeError):
    """The run cannot start or continue as asked (e.g. an existing run without --resume)."""


def _setup_logging(run_dir: Path, main: bool) -> None:
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
    if main:
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
        warn = logging.StreamHandler()  # warnings also reach the terminal, between progress bars
        warn.setLevel(logging.WARNING)
        warn.setFormatter(logging.Formatter("warning: %(message)s"))
        log.addHandler(warn)
    log.propagate = False


def train(
    config: Config | str | Path | None,
    out: str | Path | None = None,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    *,
    studies: list | None = None,
    init: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Run the configured stages; returns the bundle directory.

    ``studies`` (splits set) replace ``train.cohort``'s, e.g. a site's signed studies; ``init`` is
    a bundle (of the same model config) whose weights every stage continues from, keeping its
    encoder's input centring; ``provenance`` goes into the manifest's ``training.site``.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    from ml.models.bundle import base_identity, build_model, save_bundle, write_domain
    from ml.models.vocabulary import report_words
    from ml.train import data as data_mod
    from ml.train import stages as st
    from ml.train.curves import plot_curves
    from ml.train.loop import MetricLog, run_stage

    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    tc = cfg.train
    if not tc.cohort and studies is None:
        raise ConfigError(
            "train.cohort is empty: set it to a cohort directory (python main.py cohort --out DIR)"
        )
    run_dir = Path(out) if out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    if (run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").iterdir()) and not resume:
        raise RunError(f"{run_dir} already holds a run: pass --resume to continue it, or another --out")
    accelerator = Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    run_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(run_dir, accelerator.is_main_process)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    set_seed(tc.seed)
    if accelerator.is_main_process:
        cfg.save(run_dir / "config.json")
    log.info(
        "run %s on %s (%d process(es)), resume=%s",
        run_dir,
        accelerator.device,
        accelerator.num_processes,
        resume,
    )

    studies = list(studies) if studies is not None else list(data_mod.load_studies(tc.cohort))
    for extra in tc.encoder_cohorts:
        studies.extend(data_mod.as_encoder_only(data_mod.load_studies(extra), Path(extra).name))
    grid = _grid_size(cfg)
    prepared = data_mod.prepare(
        studies,
        cfg.model.encoder.image_size,
        grid,
        cache=run_dir / "cache",
        progress=accelerator.is_local_main_process,
    )
    splits = data_mod.split_indices(prepared)
    if tc.max_train:
        splits["train"] = splits["train"][: tc.max_train]
    all_val = splits["val"]  # the encoder check scores every one: 32 images hold a handful of nodules
    splits["val"] = splits["val"][: tc.max_val] if tc.max_val else splits["val"]
    log.info("studies: %s", {k: len(v) for k, v in splits.items()})

    device = accelerator.device
    net = build_model(cfg.model, device=str(device), tiny=cfg.model.llm.name_or_path == "tiny")
    if init is not None:
        from ml.train.warm import load_bundle_weights

        load_bundle_weights(net, init)
        log.info("continuing from the weights of %s", init)
    metrics = MetricLog(run_dir / "metrics.jsonl")
    common = dict(
        net=net,
        accelerator=accelerator,
        run_dir=run_dir,
        metrics=metrics,
        seed=tc.seed,
        val_every=tc.val_every,
        val_batches=tc.val_batches,
        ckpt_every=tc.ckpt_every,
        log_every=tc.log_every,
        resume=resume,
    )
    finals: dict[str, dict[str, float]] = {}
    checks: dict[str, Any] = {}
    for name in ("encoder", "scanpath", "report"):
        if name not in tc.stages:
            continue
        tr, va = splits["train"], splits["val"]
        if name == "encoder":
            stage = st.encoder_stage(
                net, prepared, tr + splits.get(data_mod.ENCODER_ONLY, []), va, device, tc.seed,
                fit_norm=init is None, augment=tc.augment,
            )  # fmt: skip
        elif name == "scanpath":
            stage = st.scanpath_stage(net, prepared, tr, va, device, tc.seed)
        else:
            stage = st.report_stage(net, prepared, tr, va, device, tc.seed, tc.gaze_mix)
        finals[name] = run_stage(stage, getattr(tc, name), **common)
        if name == "encoder":
            checks["encoder"] = st.encoder_check(net.encoder, prepared, all_val, device)
            _warn_if_collapsed(checks["encoder"])
        if accelerator.is_main_process:
            plot_curves(metrics.read(), run_dir / "curves.png")

    bundle_dir = run_dir / "bundle"
    if accelerator.is_main_process:
        net.eval()
        base = base_identity(cfg.model.llm.name_or_path)
        training = {
            "seed": tc.seed,
            "cohort": str(tc.cohort),
            "splits": {k: len(v) for k, v in splits.items()},
            "final_val": finals,
            "checks": checks,
            "config": cfg.to_dict()["train"],
        }
        if provenance:
            training["site"] = provenance
        words = report_words(prepared.reports[i] for i in splits["train"])
        gate, calibration, domain_report = _fit_domain(net.encoder, prepared, splits, all_val, tc.seed)
        if "encoder" in checks:
            checks["encoder"] = st.encoder_check(net.encoder, prepared, all_val, device, calibration=calibration)
        save_bundle(net, bundle_dir, base, metrics={"final_val": finals}, training=training, words=words)
        write_domain(bundle_dir, gate, calibration, domain_report)
        summary = evaluate_summary(bundle_dir, studies, splits, tc.eval_samples, cfg)
        (bundle_dir / "eval_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        manifest = json.loads((bundle_dir / "manifest.json").read_text())
        manifest["metrics"]["eval_summary"] = summary.get("modes", {})
        (bundle_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.copy(run_dir / "train.log", bundle_dir / "training_log.txt")
        if (run_dir / "curves.png").exists():
            shutil.copy(run_dir / "curves.png", bundle_dir / "curves.png")
        log.info("bundle written to %s", bundle_dir)
    accelerator.wait_for_everyone()
    return bundle_dir


#: Below these the encoder gives (nearly) the same output for every image; see ``encoder_check``.
MIN_ENCODER_AUC, MIN_ENCODER_SPREAD = 0.6, 0.01


def _warn_if_collapsed(check: dict[str, Any]) -> bool:
    """Log the encoder's validation AUC; warn when it looks collapsed. True if it does."""
    log.info(
        "encoder check on %s val images: mean AUC %s, probability spread %s, per finding %s",
        check["images"],
        check["auc_mean"],
        check["prob_std"],
        check["auc"],
    )
    auc = check["auc_mean"]
    collapsed = check["prob_std"] < MIN_ENCODER_SPREAD or (auc == auc and auc < MIN_ENCODER_AUC)
    if collapsed:
        log.warning(
            "encoder looks collapsed (mean AUC %s < %s or probability spread %s < %s): the report "
            "model will only learn the prior; train the encoder longer, check the labels, or use "
            "a pre-trained backbone (model.encoder.kind=hf|timm)",
            auc,
            MIN_ENCODER_AUC,
            check["prob_std"],
            MIN_ENCODER_SPREAD,
        )
    return collapsed


def _fit_domain(encoder, prepared, splits: dict[str, list[int]], heldout: list[int], seed: int):  # noqa: ANN001
    """The bundle's domain gate and calibration (``ml.train.domain_fit``): fitted on every image the
    encoder trained on, thresholded and calibrated on the whole validation split; the real dev
    radiographs are compared against only when they are already in the asset cache."""
    from ml.train.data import ENCODER_ONLY
    from ml.train.domain_fit import cached_real_paths, fit_domain, format_comparison

    fit = splits["train"] + splits.get(ENCODER_ONLY, [])
    gate, calibration, report = fit_domain(
        encoder,
        prepared.images[fit],
        prepared.labels[fit],
        prepared.label_mask[fit],
        prepared.images[heldout],
        prepared.labels[heldout],
        prepared.label_mask[heldout],
        cached_real_paths(),
        seed=seed,
    )
    log.info("domain gate and calibration:\n%s", format_comparison(report))
    return gate, calibration, report


def _grid_size(cfg: Config) -> int:
    """The encoder's patch grid for the configured image size."""
    from ml.models.encoder import VisionEncoder

    return VisionEncoder(cfg.model.encoder).eval().grid_size()


def evaluate_summary(
    bundle_dir: Path, studies: list, splits: dict[str, list[int]], n: int, cfg: Config
) -> dict:
    """Greedy drafts for the first ``n`` test (else val) studies in each gaze mode, labelled with the
    project's CheXpert-style labeler: micro precision/recall/F1 of positive findings per mode.

    A quick sanity summary for the bundle; the evaluation layer (``python main.py eval``) computes
    the full NLG + clinical-efficacy table.
    """
    from ml.contracts import Decoding
    from ml.imaging import load_image
    from ml.models.bundle import load_bundle

    rows = (splits.get("test") or splits.get("val") or [])[:n]
    if not rows:
        return {"n": 0, "modes": {}}
    try:
        from ml.metrics.labeler import label_report
    except ImportError:
        label_report = None
    drafter = load_bundle(bundle_dir, device="cpu" if not _cuda() else "cuda")
    decoding = Decoding(max_new_tokens=cfg.model.llm.max_report_tokens, num_beams=1)
    out: dict[str, Any] = {
        "n": len(rows),
        "split": "test" if splits.get("test") else "val",
        "modes": {},
        "examples": [],
    }
    for mode in ("predicted", "image_only", "real_gaze", "no_gnn"):
        tp = fp = fn = 0
        t0 = time.time()
        n_tok = 0
        for k, i in enumerate(rows):
            s = studies[i]
            if mode == "real_gaze" and not s.scanpaths:
                continue
            img = load_image(s.image_path)
            draft = drafter.generate(
                img, scanpath=s.scanpaths[0] if mode == "real_gaze" else None, decoding=decoding, mode=mode
            )
            n_tok += draft.n_tokens
            if k < 2 and mode == "predicted":
                out["examples"].append(
                    {"id": s.id, "draft": draft.text, "reference": s.report.text if s.report else ""}
                )
            if label_report is None:
                continue
            pred = {o for o, v in label_report(draft.text).items() if v == 1}
            gold = {o for o, v in s.labels.items() if v == 1}
            tp += len(pred & gold)
            fp += len(pred - gold)
            fn += len(gold - pred)
        p = tp / max(tp + fp, 1)
        r = tp / max(tp + fn, 1)
        out["modes"][mode] = {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(2 * p * r / max(p + r, 1e-9), 4),
            "tokens_per_s": round(n_tok / max(time.time() - t0, 1e-9), 2),
        }
        log.info("eval summary %s: %s", mode, out["modes"][mode])
    if label_report is None:
        out["note"] = "ml.metrics.labeler not available: no clinical scores"
    return out


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
