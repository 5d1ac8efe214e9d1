"""``cohort``: render the synthetic ground-truth cohort (radiographs from the real CT, readers, reports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cohort",
        help="render a synthetic chest X-ray cohort with ground truth, simulated readers and reports",
        description="Render N synthetic studies from the embedded chest CT into a REFLACX-shaped folder.",
    )
    p.add_argument("--n", type=int, default=200, help="number of images (default 200)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same cohort")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    p.add_argument("--readers", type=int, default=3, help="simulated readers per image (1-3)")
    p.add_argument(
        "--scale", type=float, default=1.0, help="image size factor (1 = 1024x1024; smaller for previews)"
    )
    p.add_argument("--ap-fraction", type=float, default=0.1, help="fraction of AP (instead of PA) views")
    p.add_argument("--normal-fraction", type=float, default=0.3, help="fraction of normal studies")
    p.add_argument(
        "--weights",
        type=_weights,
        default=None,
        metavar="KIND=W,...",
        help="change how often finding kinds are drawn, e.g. nodule=0.5,mass=0.06 (the rest keep theirs)",
    )
    p.add_argument(
        "--add",
        type=_weights,
        default=None,
        metavar="KIND=P,...",
        help="also give every case KIND with probability P, independent of its other findings "
        "(e.g. nodule=0.5 for a nodule-rich encoder set)",
    )
    p.add_argument(
        "--look", choices=("plain", "clinical"), default="plain",
        help="clinical: add a tone curve, detector noise, grid lines, collimation and burned-in markers "
        "(ml/cohort/look.py); default plain, what the demo bundle was trained on",
    )  # fmt: skip
    p.add_argument(
        "--patient", choices=("fixed", "varied"), default="fixed",
        help="varied: habitus, breast shadows, inspiration, rotation, AP portable films, children and support "
        "devices (ml/cohort/patient.py); default fixed, what the demo bundle was trained on",
    )  # fmt: skip
    p.add_argument(
        "--contact-sheet", type=Path, default=None, help="also draw a 16-case contact sheet PNG here"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _weights(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        kind, eq, value = part.partition("=")
        try:
            out[kind.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{part}' is not KIND=WEIGHT (e.g. nodule=0.5)") from None
        if not eq:
            raise argparse.ArgumentTypeError(f"'{part}' is not KIND=WEIGHT (e.g. nodule=0.5)")
    return out


def run(args: argparse.Namespace) -> int:
    from ml.assets import AssetError
    from ml.cohort.build import CohortError, build_cohort

    try:
        out = build_cohort(
            args.out, args.n, seed=args.seed, workers=args.workers, progress=not args.quiet, scale=args.scale,
            n_readers=args.readers, ap_fraction=args.ap_fraction, normal_fraction=args.normal_fraction, weights=args.weights,
            add=args.add, look=args.look, patient=args.patient,
        )  # fmt: skip
        if args.contact_sheet:
            from ml.cohort.contact_sheet import contact_sheet

            print(f"contact sheet: {contact_sheet(out, args.contact_sheet)}", file=sys.stderr)
    except (CohortError, AssetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0
