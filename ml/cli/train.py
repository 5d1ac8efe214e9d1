"""``train``: encoder → scanpath predictor → report model, into a run directory and a bundle."""

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
