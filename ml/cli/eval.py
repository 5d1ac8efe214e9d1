"""``eval``: run the ablation rows of a bundle on a cohort split and write the results table.

    python main.py eval --bundle DIR --cohort DIR [--split test] [--out DIR] [--limit N] [--jobs N] [--seeds N]

Writes ``results.json``, ``results.md`` (paper-style table) and ``example_<n>.png`` into ``--out``;
``--readme`` also prints the README's results section generated from the run.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    from ml.contracts import Decoding
    from ml.eval.runner import Row

    p = sub.add_parser(
        "eval", help="ablation table: NLG, clinical efficacy and scanpath metrics on a cohort split"
    )
    p.add_argument("--bundle", default=None, help="model bundle folder (default: the demo bundle)")
    p.add_argument("--cohort", required=True, help="cohort (or REFLACX-layout) folder")
    p.add_argument(
        "--split", default="test", help="split to evaluate (train/val/test, or 'all'; default test)"
    )
    p.add_argument("--out", default="runs/eval", help="output folder (default runs/eval)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images of the split")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--rows", default=",".join(Row.values()),
                   help="comma-separated ablation rows to run (default: all)")  # fmt: skip
    p.add_argument("--seeds", type=int, default=1,
                   help="draft with N decoding seeds (seed, seed+1, ...) and report each row's CE-F1 "
                        "mean ± std over them; N times the generation (default 1)")  # fmt: skip
    p.add_argument("--max-new-tokens", type=int, default=120, help="report length cap per generation")
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument(
        "--any-words", action="store_true", help="decode without the known-words guard (the model's raw text)"
    )
    p.add_argument("--redraft", type=int, default=Decoding.redraft,
                   help="drafts to sample when the first disagrees with the image model's findings "
                        f"(0 = first drafts only; default {Decoding.redraft})")  # fmt: skip
    p.add_argument("--examples", type=int, default=3, help="example-case PNGs to write")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (it starts a Java VM)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared machine more threads can be much slower)")  # fmt: skip
    p.add_argument("--jobs", type=int, default=1,
                   help="CPU worker processes, each with its own model and --threads threads, drafting a "
                        "share of the images (same results, less wall time where cores are free)")  # fmt: skip
    p.add_argument("--readme", action="store_true", help="also print the README results section")
    p.add_argument("--update-readme", metavar="README", default=None,
                   help="rewrite the results section between <!-- results:start/end --> markers in this file")  # fmt: skip
    p.set_defaults(func=run)


def load_model(bundle: str | None, device: str, threads: int) -> Any:
    """The bundle as a ``ReportModel``, with ``threads`` torch CPU threads (also run in ``--jobs`` workers)."""
    import torch

    from ml.models.bundle import load_bundle

    if threads > 0:
        torch.set_num_threads(threads)
    return load_bundle(bundle, device=device)


def run(args: argparse.Namespace) -> int:
    from ml.contracts import Decoding
    from ml.eval.runner import EvalConfig, EvalError, load_cases, run_eval, write_outputs

    rows = tuple(r.strip() for r in args.rows.split(",") if r.strip())
    try:
        cases, reference = load_cases(args.cohort, split=args.split, limit=args.limit)
    except Exception as exc:  # dataset errors carry one-line messages
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    if args.jobs < 1 or (args.jobs > 1 and args.device != "cpu"):
        print("eval: --jobs must be at least 1, and more than 1 only with --device cpu", file=sys.stderr)
        return 2
    make_model = functools.partial(load_model, args.bundle, args.device, args.threads)
    try:
        if args.jobs > 1:  # each worker loads its own copy; fail here on a bundle that is not there
            from ml.models.bundle import DEMO_BUNDLE, read_manifest

            read_manifest(args.bundle or DEMO_BUNDLE)
            model = make_model
        else:
            model = make_model()
    except Exception as exc:
        print(f"eval: cannot load the bundle: {exc}", file=sys.stderr)
        return 2
    config = EvalConfig(
        split=args.split,
        limit=args.limit,
        rows=rows,
        seeds=args.seeds,
        decoding=Decoding(
            max_new_tokens=args.max_new_tokens,
            num_beams=args.num_beams,
            known_words=not args.any_words,
            redraft=max(0, args.redraft),
        ),
        meteor=not args.no_meteor,
        examples=args.examples,
    )
    try:
        results = run_eval(model, cases, config, reference=reference, jobs=args.jobs)
    except EvalError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a worker process that failed, e.g. could not load the bundle
        if args.jobs == 1:
            raise
        print(f"eval: a worker process failed: {exc}", file=sys.stderr)
        return 2
    results["device"] = args.device
    paths = write_outputs(results, Path(args.out), cohort=args.cohort, bundle=args.bundle or "demo bundle")
    print(Path(paths["md"]).read_text())
    if args.readme:
        from ml.eval.table import readme_section

        print(readme_section(paths["json"]))
    if args.update_readme:
        from ml.eval.table import ReadmeError, update_readme

        try:
            update_readme(args.update_readme, paths["json"])
        except (ReadmeError, OSError) as exc:
            print(f"eval: {exc}", file=sys.stderr)
            return 2
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0
