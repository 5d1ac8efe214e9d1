"""``realism``: how far a cohort's renders are from real chest radiographs (encoder-free distances).

    python main.py realism --cohort DIR [--cohort DIR ...] [--n 120] [--sheet PNG] [--json]

Fetches the dev assets' real radiographs, prints the intensity-histogram and power-spectrum
distances of each cohort to them (``ml.eval.realism``), and with ``--sheet`` draws renders beside
the real films (a build-time file: the films' pixels are not to be committed).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("realism", help="distance of a cohort's renders from real chest radiographs")
    p.add_argument("--cohort", action="append", required=True, help="cohort folder (repeat to compare)")
    p.add_argument("--n", type=int, default=120, help="images per cohort (default 120)")
    p.add_argument("--sheet", default=None, help="also draw renders beside the real films into this PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml.eval.realism import chest_films, realism, realism_sheet

    try:
        films = chest_films()
        result = realism(args.cohort, films, args.n)
        if args.sheet:
            result["sheet"] = str(realism_sheet(args.cohort, films, args.sheet))
    except Exception as exc:  # offline, missing cohort: one line, no traceback
        print(f"realism: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    base = result["real_vs_real"]
    print(f"distance to {len(result['real_films'])} real chest radiographs (intensity W1 / log-spectrum RMS, decades)")
    print(f"{'real vs real (two halves)':<48} {base['intensity']:>8.4f} {base['spectrum']:>8.4f}")
    for name, r in result["cohorts"].items():
        print(f"{name + ' (' + str(r['images']) + ' renders)':<48} {r['intensity']:>8.4f} {r['spectrum']:>8.4f}")
    if result.get("sheet"):
        print(f"sheet: {result['sheet']}")
    return 0
