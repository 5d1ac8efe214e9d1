"""``encoder-check``: per-finding ROC AUC of a bundle's vision encoder on a cohort.

python main.py encoder-check --cohort DIR [--bundle DIR] [--split all] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encoder-check",
        help="how well a bundle's vision encoder sees each finding on a cohort (ROC AUC, sensitivity)",
    )
    p.add_argument("--cohort", required=True, help="cohort (or REFLACX-layout) folder")
    p.add_argument("--bundle", default=None, help="model bundle folder (default: the demo bundle)")
    p.add_argument("--split", default="all", help="train/val/test, or 'all' (default all)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml.eval.encoder import check_encoder, format_check

    try:
        check = check_encoder(args.bundle, args.cohort, args.split, args.device, progress=not args.json)
    except Exception as exc:  # missing bundle/cohort, unreadable image: one line, no traceback
        print(f"encoder-check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(check) if args.json else format_check(check))
    return 0
