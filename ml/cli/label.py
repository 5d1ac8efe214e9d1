"""``label``: CheXpert-style labels for reports, one output line per input line, in order.

Input (a file or ``-`` for stdin): JSON Lines (``{"id": ..., "text": ...}``) or plain text with
one report per line; the two may be mixed. A plain line's id is its 1-based line number.
``--json`` prints ``{"id": ..., "labels": {<all 14 observations>: 1 | 0 | -1 | null}}`` per line;
without it, a readable line listing the mentioned observations.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO


class LabelInputError(ValueError):
    """A line of the input could not be read as a report."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="label reports with the 14 CheXpert observations (1 / 0 / -1 / null)")
    p.add_argument(
        "input", help="JSON Lines ({'id','text'}) or plain text, one report per line; '-' for stdin"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input line")
    p.set_defaults(func=run)


def parse_line(line: str, number: int) -> tuple[Any, str]:
    """(id, text) of one input line; JSON objects need a string ``text``."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return number, stripped
    try:
        record = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise LabelInputError(f"line {number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise LabelInputError(f"line {number}: a JSON line needs a string field 'text'")
    return record.get("id", number), record["text"]


def label_lines(stream: TextIO) -> Iterator[dict[str, Any]]:
    """Yield ``{"id", "labels"}`` for each line of ``stream``, in order."""
    from ml.metrics.labeler import Labeler

    labeler = Labeler()
    for number, line in enumerate(stream, start=1):
        rid, text = parse_line(line, number)
        yield {"id": rid, "labels": labeler.label(text)}


def _readable(record: dict[str, Any]) -> str:
    names = {1: "", 0: "no ", -1: "possible "}
    said = [f"{names[v]}{k}" for k, v in record["labels"].items() if v is not None]
    return f"{record['id']}\t" + (", ".join(said) if said else "(nothing mentioned)")


def run(args: argparse.Namespace) -> int:
    try:
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"label: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        with stream:
            for record in label_lines(stream):
                print(json.dumps(record) if args.json else _readable(record), flush=False)
    except LabelInputError as exc:
        print(f"label: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"label: {args.input} is not UTF-8 text", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `label ... | head`: the reader left; stop quietly like other CLI tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    sys.stdout.flush()
    return 0
