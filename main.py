"""Gaze2Report entry point: ``python main.py --help``; no arguments opens the workstation."""

from __future__ import annotations

import sys
from pathlib import Path


def _register_gui(sub) -> None:
    p = sub.add_parser("gui", help="open the radiologist's workstation (the default)")
    p.add_argument(
        "paths", nargs="*", help="studies to open: DICOM/PNG files, folders, a cohort or REFLACX folder"
    )
    p.add_argument("--backend", default=None, help="backend URL (default: start a local one)")
    p.add_argument("--screenshot", default=None, help="save a screenshot of the window to this PNG and exit")

    def run(args) -> int:
        from app.main import run_gui

        return run_gui(args)

    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    from ml.cli import build_parser, run

    argv = sys.argv[1:] if argv is None else argv
    parser, sub = build_parser()
    _register_gui(sub)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]  # `main.py --backend URL` and `main.py --screenshot F` open the GUI
    elif argv[0] not in sub.choices and Path(argv[0]).exists():
        argv = ["gui", *argv]  # `main.py FILE...` opens the files in the workstation
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
