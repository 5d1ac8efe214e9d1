"""``generate``: draft a report for one image with a model bundle (the demo bundle by default)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml.contracts import DomainCheck


def register(sub: argparse._SubParsersAction) -> None:
    from ml.contracts import Decoding, GazeMode

    p = sub.add_parser(
        "generate",
        help="draft a report for an image (prints report, predicted scanpath and node attention)",
        description="Without --gaze the scanpath is predicted (Gaze2Report's on-the-fly gaze); with --gaze "
        "the recorded fixations condition the draft. --json prints one object with report, scanpath "
        "([{x, y, duration}] in image pixels and seconds), attention (one weight per fixation), model and "
        "domain ({in_domain, score, threshold, method}: whether the image looks like the training images; "
        "null when the bundle has no domain gate).",
    )
    p.add_argument("image", type=Path, help="DICOM, PNG, JPEG or TIFF radiograph")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: assets/demo_bundle)")
    p.add_argument("--gaze", type=Path, default=None, help="fixations CSV (REFLACX/EGD-CXR or x,y,start,end)")
    p.add_argument(
        "--mode",
        choices=GazeMode.values(),
        default=None,
        help="gaze mode (default: real_gaze with --gaze, else predicted)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--beams", type=int, default=1, help="beam search width (1 = greedy, streams tokens)")
    p.add_argument(
        "--max-tokens", type=int, default=None, help="most new tokens (default: the bundle's report length)"
    )
    p.add_argument("--repetition-penalty", type=float, default=1.1)
    p.add_argument("--no-repeat-ngram", type=int, default=4)
    p.add_argument(
        "--any-words",
        action="store_true",
        help="let the model write words no report has used (default: known words only)",
    )
    p.add_argument(
        "--redraft",
        type=int,
        default=Decoding.redraft,
        help="drafts to sample when the first one disagrees with the image model's findings; the one "
        f"that agrees best is kept (0 = keep the first; default {Decoding.redraft})",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def domain_line(check: DomainCheck | None) -> str:
    """One line on whether the image looks like the model's training images."""
    if check is None:
        return "domain: no domain gate in this bundle (the draft may be of an image unlike its training images)"
    verdict = "in domain" if check.in_domain else "OUT OF DOMAIN: this image is unlike the training images, the draft is unreliable"
    return f"domain: {verdict} ({check.method} score {check.score:.3g}, threshold {check.threshold:.3g})"


def run(args: argparse.Namespace) -> int:
    from ml.contracts import Decoding
    from ml.gaze.io import GazeFileError, read_scanpath
    from ml.imaging import load_image
    from ml.imaging.errors import ImageError
    from ml.models.bundle import BundleError, load_bundle
    from ml.models.gaze2report import GazeModeError

    try:
        image = load_image(args.image)
        scanpath = read_scanpath(args.gaze, image.size) if args.gaze else None
        model = load_bundle(args.bundle, device=args.device)
    except (ImageError, GazeFileError, BundleError, OSError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    max_tokens = args.max_tokens or model.net.cfg.llm.max_report_tokens
    decoding = Decoding(
        max_new_tokens=max_tokens,
        num_beams=max(1, args.beams),
        repetition_penalty=args.repetition_penalty,
        no_repeat_ngram_size=args.no_repeat_ngram,
        seed=args.seed,
        known_words=not args.any_words,
        redraft=max(0, args.redraft),
    )
    stream = None if args.json else (lambda piece: print(piece, end="", flush=True))
    try:
        draft = model.generate(image, scanpath=scanpath, decoding=decoding, on_token=stream, mode=args.mode)
    except GazeModeError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    fixations = draft.scanpath.fixations if draft.scanpath else []
    points = [{"x": round(f.x, 2), "y": round(f.y, 2), "duration": round(f.duration, 4)} for f in fixations]
    if args.json:
        print(
            json.dumps(
                {
                    "report": draft.text,
                    "findings": [asdict(f) for f in draft.findings],
                    "redrafted": draft.redrafted,
                    "scanpath": points,
                    "attention": [round(a, 5) for a in draft.attention],
                    "model": draft.model,
                    "gaze_mode": draft.model.get("gaze_mode"),
                    "n_tokens": draft.n_tokens,
                    "domain": asdict(draft.domain) if draft.domain is not None else None,
                },
                indent=2,
            )
        )
        return 0
    print("\n")
    if draft.redrafted:  # what streamed above was the first draft
        print("redrafted: the draft above left out or misplaced the image model's findings; kept instead:\n")
        print(draft.text + "\n")
    if draft.findings:
        print("the image model's likely findings (probability; * = not in the draft):")
        for f in draft.findings:
            where = f" ({f.place})" if f.place else ""
            print(f"  {'' if f.in_draft else '*'}{f.label.lower()}{where}  {f.probability:.2f}")
    if points:
        src = draft.scanpath.source.value if draft.scanpath else ""
        print(f"scanpath ({src}, {len(points)} fixations; x, y px, duration s, attention):")
        for i, (pt, a) in enumerate(zip(points, draft.attention or [0.0] * len(points), strict=False)):
            print(f"  {i + 1:2d}  {pt['x']:8.1f} {pt['y']:8.1f}  {pt['duration']:.3f}  {a:.3f}")
    print(domain_line(draft.domain))
    m = draft.model
    print(
        f"model: {m.get('name')} {m.get('version')} on {m.get('base_model')} (gaze mode: {m.get('gaze_mode')})"
    )
    return 0
