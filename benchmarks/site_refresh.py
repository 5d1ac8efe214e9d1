"""The simulated-site proof: a cohort "read" into a workstation database, refreshed from a bundle, gated.

Every image of ``--cohort`` (rendered with another finding mix than the base bundle's) is read
through the store's API as the GUI reads it (``ml.site.simulate``: a draft stored, the ground-truth
report signed with the image's sha256, every simulated reader's gaze imported as a session, the
findings drawn), oldest first in case order; then ``train --from-store`` continues the base bundle
(default: the demo bundle) and the gate scores candidate and base on the newest ``--holdout``
signings. ``--shuffle-reports`` signs every study but the held-out ones with another study's
report: the broken site whose refresh the gate must refuse. Prints JSON (the gate, the harvest, the wall time).

    python benchmarks/site_refresh.py --cohort runs/site-cohort --out runs/site-proof [--holdout 40]
        [--shuffle-reports] [--set train.report.epochs=1 ...] [--max-new-tokens N] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for site.sqlite, models/ and run/")
    p.add_argument("--base-bundle", type=Path, default=None)
    p.add_argument("--holdout", type=int, default=40)
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--shuffle-reports", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--max-new-tokens", type=int, default=0, help="gate drafts' length (0: the bundle's)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    from ml.cli.train import _overrides
    from ml.cohort.load import load_cohort
    from ml.contracts import Decoding
    from ml.models.bundle import DEMO_BUNDLE
    from ml.site.gate import gate_markdown
    from ml.site.simulate import simulate_site
    from ml.store import harvest
    from ml.train.refresh import refresh

    db = args.out / "site.sqlite"
    if not db.exists():
        studies = sorted(load_cohort(args.cohort, per="case"), key=lambda s: s.id)
        simulate_site(studies, db, shuffle_reports=args.shuffle_reports, keep_newest=args.holdout)
    started = time.perf_counter()
    result = refresh(
        [db],
        args.out / "run",
        base_bundle=args.base_bundle or DEMO_BUNDLE,
        models=args.out / "models",
        resume=(args.out / "run" / "site.json").exists(),
        holdout=args.holdout,
        tolerance=args.tolerance,
        overrides=_overrides(argparse.Namespace(set=args.set, cohort=None, seed=None)),
        decoding=Decoding(max_new_tokens=args.max_new_tokens) if args.max_new_tokens else None,
        command="benchmarks/site_refresh.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    print(gate_markdown(result.gate), file=sys.stderr)
    return emit(
        {
            "cohort": str(args.cohort),
            "shuffled_reports": args.shuffle_reports,
            "harvest": harvest([db]).summary(),
            "gate": result.gate.to_dict(),
            "candidate": str(result.bundle),
            "seconds": round(time.perf_counter() - started, 1),
        },
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
