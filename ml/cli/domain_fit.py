"""``domain-fit``: fit a bundle's domain gate and finding calibration on a cohort, in place.

    python main.py domain-fit --bundle DIR --cohort DIR [--seed 0] [--no-real] [--json]

The same code ``train`` runs when it writes a bundle (``ml.train.domain_fit``), for a bundle made
before it had a gate: the cohort's train split stands for the training images, its val and test
splits are the held-out in-domain images. Use a freshly rendered cohort (a seed the bundle never
saw). The real radiographs of the dev assets are fetched and scored as outliers unless ``--no-real``.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "domain-fit",
        help="fit a bundle's domain gate (flags images unlike its training images) and calibration",
    )
    p.add_argument("--bundle", required=True, help="model bundle folder (written in place)")
    p.add_argument("--cohort", required=True, help="cohort folder: train split fits, val + test threshold")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic outliers (default 0)")
    p.add_argument("--no-real", action="store_true", help="do not fetch or score the real dev radiographs")
    p.add_argument("--json", action="store_true", help="print the fit report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml.assets import AssetError, dev_radiographs
    from ml.models.bundle import load_encoder, write_domain
    from ml.train.data import load_studies, prepare, split_indices
    from ml.train.domain_fit import fit_domain, format_comparison

    try:
        encoder = load_encoder(args.bundle)
        data = prepare(load_studies(args.cohort), encoder.cfg.image_size, encoder.grid_size(), progress=not args.json)
        splits = split_indices(data)
        fit, held = splits["train"], splits["val"] + splits["test"]
        real = []
        if not args.no_real:
            try:
                real = dev_radiographs()
            except AssetError as exc:
                print(f"domain-fit: no real radiographs ({exc})", file=sys.stderr)
        gate, calibration, report = fit_domain(
            encoder,
            data.images[fit],
            data.labels[fit],
            data.label_mask[fit],
            data.images[held],
            data.labels[held],
            data.label_mask[held],
            real,
            seed=args.seed,
        )
        report["cohort"] = str(args.cohort)
        write_domain(args.bundle, gate, calibration, report)
    except Exception as exc:  # missing bundle/cohort, unreadable image: one line, no traceback
        print(f"domain-fit: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_comparison(report))
    return 0
