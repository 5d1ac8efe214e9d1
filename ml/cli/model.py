"""``model list|promote|rollback``: which bundle of a models folder serves, one command each.

A running backend that serves the folder (``ml.models.promoted.PromotedModel``) switches by itself;
promote refuses a candidate the gate refused, and both ask before changing anything unless ``--yes``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: The models folder when ``--models`` is not given.
MODELS_ENV = "GAZE2REPORT_MODELS"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model",
        help="list, promote or roll back the bundles of a models folder",
        description="A models folder holds the current bundle, candidates from site refreshes "
        "(`train --from-store ... --models DIR`) and the history of promotions and rollbacks.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("list", "the current bundle, the candidates with their gate, and the history"),
        ("promote", "make a candidate (default: the newest) the current bundle"),
        ("rollback", "serve the bundle that was current before this one again"),
    ):
        a = actions.add_parser(name, help=text, description=text)
        a.add_argument(
            "--models", type=Path, default=Path(os.environ.get(MODELS_ENV, "models")),
            help=f"models folder (default: ${MODELS_ENV} or ./models)",
        )  # fmt: skip
        if name == "promote":
            a.add_argument("bundle", nargs="?", default=None, help="bundle id (see `model list`)")
        if name != "list":
            a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        a.set_defaults(func=run)


def _gate_line(gate: dict | None) -> str:
    if not gate:
        return "no gate (adopted as it was)"
    return ("passed" if gate.get("passed") else "REFUSED") + f": {gate.get('reason', '')}"


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print("model: not a terminal, so nothing was changed: pass --yes to confirm", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from ml.site.registry import ModelRegistry, RegistryError

    registry = ModelRegistry(args.models)
    try:
        if args.action == "list":
            return _list(registry)
        current = registry.current()
        if args.action == "promote":
            target = registry.get(args.bundle) if args.bundle else (registry.candidates() or [None])[-1]
            if target is None:
                raise RegistryError(f"no candidate to promote in {args.models}")
            if target.refused:
                raise RegistryError(f"the gate refused '{target.id}': {target.gate.get('reason', '')}")
            question = f"Promote '{target.id}' (now: {current.id if current else 'none'}; gate {_gate_line(target.gate)})?"
            if not _confirm(question, args.yes):
                return 1
            entry = registry.promote(target.id)
        else:
            if current is None:
                raise RegistryError(f"{args.models} has no current bundle")
            if not _confirm(f"Roll back from '{current.id}' to the bundle that served before it?", args.yes):
                return 1
            entry = registry.rollback()
    except RegistryError as exc:
        print(f"model: {exc}", file=sys.stderr)
        return 2
    print(f"current bundle: {entry.id} ({entry.path})")
    return 0


def _list(registry) -> int:  # noqa: ANN001
    entries = registry.entries()
    if not entries:
        print(f"{registry.folder}: no bundles yet (a refresh with --models {registry.folder} adds them)")
        return 0
    for e in entries:
        mark = "*" if e.current else " "
        print(f"{mark} {e.id}  [{e.origin}, added {e.added}]  {_gate_line(e.gate)}")
    print("\nhistory:")
    for event in registry.history():
        was = f" (was {event['from']})" if event.get("from") else ""
        print(f"  {event['at']}  {event['action']} {event['bundle']}{was}")
    return 0
