"""``train``: encoder → scanpath predictor → report model, into a run directory and a bundle.

With ``--from-store`` it is a site refresh (``ml.train.refresh``): the workstations' signed studies
and recorded gaze continue a bundle's training, and a gate on the newest signings says whether
the candidate may be promoted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a Gaze2Report bundle (works under `accelerate launch main.py train ...` too)",
        description="Runs the configured stages with progress bars, periodic validation and checkpoints; "
        "writes config.json, train.log, metrics.jsonl, curves.png and bundle/ into the run directory.",
    )
    p.add_argument(
        "--config", type=Path, default=None, help="JSON or YAML config (default: built-in defaults)"
    )
    p.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    p.add_argument("--cohort", type=Path, default=None, help="override train.cohort")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    site = p.add_argument_group("site refresh (learn from the workstations' signed studies)")
    site.add_argument(
        "--from-store", nargs="+", type=Path, default=None, metavar="DB",
        help="workstation databases to harvest: signed reports, their images, usable gaze sessions, annotations",
    )  # fmt: skip
    site.add_argument(
        "--base-bundle", type=Path, default=None, metavar="DIR",
        help="bundle whose weights every stage continues from (default: the --models folder's current bundle)",
    )  # fmt: skip
    site.add_argument(
        "--models", type=Path, default=None, metavar="DIR",
        help="models folder to register the candidate in (see `model list`)",
    )  # fmt: skip
    site.add_argument(
        "--holdout", type=int, default=20, metavar="N",
        help="newest signed studies held out for the gate, never trained on (default 20)",
    )  # fmt: skip
    site.add_argument(
        "--gate-tolerance", type=float, default=0.02, metavar="F",
        help="how much lower the candidate's CE-F1 may be and still pass the gate (default 0.02)",
    )  # fmt: skip
    site.add_argument(
        "--max-validation-deg", type=float, default=None, metavar="DEG",
        help="leave out gaze sessions whose validation accuracy is worse than this (degrees)",
    )  # fmt: skip
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override any config key, e.g. --set train.report.max_steps=50 (repeatable)",
    )
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    pairs = list(args.set)
    if args.cohort is not None:
        pairs.append(f"train.cohort={json.dumps(str(args.cohort))}")
    if args.seed is not None:
        pairs.append(f"train.seed={args.seed}")
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"--set wants KEY=VALUE, got '{pair}'")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        parts = key.split(".")
        for k in parts[:-1]:
            node = node.setdefault(k, {})
        node[parts[-1]] = value
    return out


def run(args: argparse.Namespace) -> int:
    if args.from_store is not None:
        return run_refresh(args)
    from ml.models.config import ConfigError
    from ml.train.data import DataError
    from ml.train.run import RunError, train

    try:
        bundle = train(args.config, args.out, resume=args.resume, overrides=_overrides(args))
    except (ConfigError, DataError, RunError, ValueError) as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    print(bundle)
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    import time

    from ml.eval.runner import EvalError
    from ml.models.bundle import BundleError
    from ml.models.config import ConfigError
    from ml.site import RegistryError, SiteDataError, gate_markdown
    from ml.store import StoreError
    from ml.train.data import DataError
    from ml.train.refresh import RefreshError, refresh
    from ml.train.run import RunError

    if args.config is not None or args.cohort is not None:
        print(
            "train: a refresh takes its model and settings from the base bundle; "
            "change settings with --set train.KEY=VALUE (no --config or --cohort)",
            file=sys.stderr,
        )
        return 2
    out = args.out or Path("runs") / time.strftime("refresh-%Y%m%d-%H%M%S")
    try:
        result = refresh(
            args.from_store,
            out,
            base_bundle=args.base_bundle,
            models=args.models,
            resume=args.resume,
            holdout=args.holdout,
            tolerance=args.gate_tolerance,
            max_validation_deg=args.max_validation_deg,
            overrides=_overrides(args),
            command=" ".join(["main.py", *sys.argv[1:]]) if sys.argv[1:2] == ["train"] else "",
        )
    except KeyboardInterrupt:
        print(
            f"train: refresh cancelled; the current bundle keeps serving. Continue it with the same command "
            f"and --resume --out {out}, or delete {out}",
            file=sys.stderr,
        )
        return 130
    except (
        BundleError, ConfigError, DataError, EvalError, RefreshError, RegistryError, RunError, SiteDataError,
        StoreError, ValueError,
    ) as exc:  # fmt: skip
        print(f"train: {exc}", file=sys.stderr)
        return 2
    if result.gate is None:  # another process of `accelerate launch`: the main one gates and prints
        return 0
    print(gate_markdown(result.gate))
    print(f"candidate bundle: {result.bundle}")
    if result.entry is not None:
        verdict = "promote it with" if result.gate.passed else "the gate refused it; inspect it with"
        print(f"registered as '{result.entry.id}' in {args.models}: {verdict} `main.py model list --models {args.models}`")
    return 0
