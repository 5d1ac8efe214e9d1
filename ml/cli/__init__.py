"""The command line: ``python main.py SUBCOMMAND`` (also installed as ``gaze2report``).

Each subcommand lives in its own module under ``ml/cli/`` exposing ``register(subparsers)``,
which adds a parser whose ``func`` default takes the parsed args and returns an exit code.
Modules import heavy libraries (torch, Qt) inside ``func`` only, so ``--help`` stays instant.
The ``gui`` subcommand is registered by ``main.py`` (ml never imports Qt).
"""

from __future__ import annotations

import argparse
import importlib

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "assets",
    "serve",
    "generate",
    "train",
    "model",
    "eval",
    "encoder-check",
    "domain-fit",
    "realism",
    "cohort",
    "compare",
    "label",
    "session",
)


def build_parser(prog: str = "gaze2report") -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Gaze2Report: chest X-ray report drafting with visual-gaze prompt tuning. "
        "With no subcommand, opens the workstation GUI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module_name = f"ml.cli.{name.replace('-', '_')}"
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser, sub


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    parser, _ = build_parser()
    return run(parser, argv)
