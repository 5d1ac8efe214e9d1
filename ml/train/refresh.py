"""A site refresh: signed studies and recorded gaze → a candidate bundle → the gate → the models folder.

Why: the studies a site's radiologists sign are labelled examples of exactly its images and
findings. ``refresh`` harvests them (``ml.store.harvest``), holds out the newest signings for the
gate (``ml.site.data``), continues every stage from the serving bundle's weights with
``ml.train.run.train`` (same stages, checkpoints and resume as ``train --config``), then scores
the candidate and the base bundle side by side with ``eval``'s metrics on the held-out studies
(``ml.site.gate``). The candidate is registered in the models folder with its gate; it serves only
after ``model promote``, which refuses what the gate refused.

The run folder keeps ``site.json`` (which study uids trained and which were held out: a resume
trains on the same ones) and ``gate.json``/``gate.md``; the bundle itself records only hashes
and counts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.contracts import Decoding
from ml.site.data import HOLDOUT, SiteData, site_data
from ml.site.gate import GateResult, decide, gate_markdown, row_scores
from ml.site.registry import BundleEntry, ModelRegistry, bundle_id, bundle_sha256

log = logging.getLogger("gaze2report.train")

SITE_FILE = "site.json"
#: The train settings a refresh never takes from its base bundle: they name the base's data.
BASE_ONLY = ("cohort", "encoder_cohorts")


class RefreshError(RuntimeError):
    """A refresh cannot start or continue as asked; the message says what to do."""


@dataclass
class RefreshResult:
    bundle: Path  # the candidate bundle in the run folder
    gate: GateResult | None  # None in the other processes of ``accelerate launch`` (the main one gates)
    entry: BundleEntry | None  # the candidate in the models folder, when one was given


def refresh(
    databases: Sequence[str | os.PathLike[str]],
    out: str | Path,
    *,
    base_bundle: str | Path | None = None,
    models: str | Path | None = None,
    resume: bool = False,
    holdout: int = 20,
    tolerance: float = 0.02,
    max_validation_deg: float | None = None,
    overrides: dict[str, Any] | None = None,
    command: str = "",
    device: str = "auto",
    decoding: Decoding | None = None,
) -> RefreshResult:
    """Harvest ``databases``, train a candidate from ``base_bundle`` (default: the models folder's
    current bundle) into the run folder ``out``, gate it and register it in ``models``.

    The gate drafts with ``decoding`` (default: what the backend serves, up to the bundle's report
    length)."""
    from accelerate import PartialState

    from ml.models.bundle import read_manifest
    from ml.models.config import load_config
    from ml.store.harvest import harvest
    from ml.train.run import train

    if not databases:
        raise RefreshError("name at least one workstation database to learn from")
    registry = ModelRegistry(models) if models else None
    run_dir = Path(out)
    site_file = run_dir / SITE_FILE
    if resume and not site_file.is_file():
        raise RefreshError(f"no refresh to resume in {run_dir} (no {SITE_FILE}): start one without --resume")
    if not resume and site_file.exists():
        raise RefreshError(f"{run_dir} already holds a refresh: pass --resume to continue it, or delete the folder")
    recorded = json.loads(site_file.read_text()) if resume else {}
    state = PartialState()  # under ``accelerate launch``: the main process writes, all train
    state.wait_for_everyone()  # every process has checked the run folder before anything is written
    base = _base_bundle(base_bundle or recorded.get("base_bundle"), registry)
    base_manifest = read_manifest(base)
    base_sha = bundle_sha256(base)
    if recorded and recorded["base_sha256"] != base_sha:
        raise RefreshError(f"the base bundle {base} changed since this refresh started: delete {run_dir} and start again")

    found = harvest(databases, max_validation_deg=max_validation_deg)
    log.info("harvest: %s", found.summary())
    data = site_data(found, holdout, keep=recorded.get("selection"))
    version = recorded.get("version") or _site_version(base_manifest["version"])
    cfg = load_config(None, _refresh_overrides(base_manifest, version, overrides or {}))
    _check_base_llm(base_manifest, cfg.model.llm.name_or_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume and state.is_main_process:
        site_file.write_text(
            json.dumps(
                {
                    "version": version,
                    "base_bundle": str(base),
                    "base_sha256": base_sha,
                    "selection": data.selection(),
                    "command": command,
                },
                indent=2,
            )
            + "\n"
        )
    provenance = {
        **data.provenance(),
        "base_bundle": {"name": base_manifest["name"], "version": base_manifest["version"], "sha256": base_sha},
        "databases": len(databases),
        "max_validation_deg": max_validation_deg,
        "command": command,
    }
    candidate = train(cfg, run_dir, resume=resume, studies=data.studies, init=base, provenance=provenance)
    if not state.is_main_process:
        return RefreshResult(candidate, None, None)
    _drop_report_text(candidate)

    gate = score_gate(
        base, candidate, data, mode=cfg.model.gaze_mode, tolerance=tolerance, device=device, decoding=decoding
    )
    (run_dir / "gate.json").write_text(json.dumps(gate.to_dict(), indent=2) + "\n")
    (run_dir / "gate.md").write_text(gate_markdown(gate))
    manifest = json.loads((candidate / "manifest.json").read_text())
    manifest["gate"] = gate.to_dict()
    (candidate / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("gate: %s", gate.reason)
    entry = _register(registry, base, candidate, gate) if registry else None
    return RefreshResult(candidate, gate, entry)


def _base_bundle(base_bundle: str | Path | None, registry: ModelRegistry | None) -> Path:
    if base_bundle is not None:
        return Path(base_bundle)
    current = registry.current() if registry else None
    if current is None:
        raise RefreshError("name the bundle to continue from: --base-bundle DIR, or a --models folder with a current bundle")
    return current.path


def _site_version(base_version: str) -> str:
    """``<base version without a site suffix>+site.<UTC time>``: a new id in the models folder."""
    return f"{base_version.split('+')[0]}+site.{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"


def _refresh_overrides(manifest: dict[str, Any], version: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The run's config: the base bundle's model (its weights fit no other) and its train settings
    without its data, no end-of-run drafts (the gate drafts), then the caller's ``train`` overrides."""
    if set(overrides) - {"train"}:
        raise RefreshError(
            "a refresh keeps the base bundle's model: only train.* settings can be changed (--set train.KEY=VALUE)"
        )
    train_cfg = {k: v for k, v in manifest.get("training", {}).get("config", {}).items() if k not in BASE_ONLY}
    train_cfg["eval_samples"] = 0
    from ml.models.config import _merge

    return {"model": {**manifest["config"], "version": version}, "train": _merge(train_cfg, overrides.get("train", {}))}


def _check_base_llm(manifest: dict[str, Any], name_or_path: str) -> None:
    """The LoRA weights continue only on the base LLM they were trained on."""
    from ml.models.bundle import BundleError, base_identity

    want = manifest["base_model"].get("sha256", "")
    if want and base_identity(name_or_path)["sha256"] != want:
        raise BundleError(
            f"the base LLM '{name_or_path}' is not the one bundle '{manifest['name']}' was trained on (sha256 differs)"
        )


def _drop_report_text(bundle: Path) -> None:
    """The end-of-run summary may quote training reports; a site bundle carries no report text."""
    summary_file = bundle / "eval_summary.json"
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        summary.pop("examples", None)
        summary_file.write_text(json.dumps(summary, indent=2) + "\n")


def score_gate(
    current: Path,
    candidate: Path,
    data: SiteData,
    *,
    mode: str,
    tolerance: float,
    device: str = "auto",
    decoding: Decoding | None = None,
) -> GateResult:
    """Draft every held-out study with both bundles in ``mode`` and score them with ``eval``'s metrics."""
    from ml.eval.runner import EvalConfig, Row, cases_from_cohort_cases, run_eval
    from ml.models.bundle import load_bundle, read_manifest

    cases = cases_from_cohort_cases(data.holdout, split=HOLDOUT)
    scores, names, warnings = [], [], []
    for bundle in (current, candidate):
        manifest = read_manifest(bundle)
        model = load_bundle(bundle, device=device)
        config = EvalConfig(
            split=HOLDOUT,
            rows=(Row(mode),),
            decoding=decoding or Decoding(max_new_tokens=manifest["config"]["llm"]["max_report_tokens"]),
            meteor=False,
            examples=0,
            progress=False,
        )
        results = run_eval(model, cases, config, reference="signed report")
        scores.append(row_scores(results, mode))
        names.append(f"{manifest['name']} {manifest['version']}")
        warnings += [w for w in results.get("warnings", []) if w not in warnings]
        del model
    support: dict[str, int] = {}
    for study in data.holdout:
        for observation, value in study.labels.items():
            support[observation] = support.get(observation, 0) + (value == 1)
    return decide(
        scores[0], scores[1], mode=str(mode), tolerance=tolerance, holdout=len(cases),
        current_bundle=names[0], candidate_bundle=names[1], warnings=warnings, support=support,
    )  # fmt: skip


def _register(registry: ModelRegistry, base: Path, candidate: Path, gate: GateResult) -> BundleEntry:
    """The candidate into the models folder (the base first, as current, when the folder is new)."""
    if registry.current() is None:
        registry.add(base, origin="base")
    bid = bundle_id(json.loads((candidate / "manifest.json").read_text()))
    if any(e.id == bid for e in registry.entries()):  # a resumed refresh registered it already
        return registry.get(bid)
    return registry.add(candidate, origin="refresh", gate=gate.to_dict())
