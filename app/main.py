"""``python main.py gui`` (the default with no arguments): start the workstation.

``run_gui(args)`` uses ``args.paths`` (studies to open; none = the embedded default case),
``args.backend`` (a backend URL; none = start a local backend subprocess) and ``args.screenshot``
(save the window to a PNG once the draft or an error has arrived, then exit).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HEADLESS_HELP = """\
gaze2report: no display found (DISPLAY / WAYLAND_DISPLAY unset), so the window cannot open.
Run it headless instead:
  QT_QPA_PLATFORM=offscreen python main.py gui --screenshot out.png   # renders the window to a PNG
  xvfb-run -a python main.py                                          # a virtual X display
  python main.py generate IMAGE                                       # a draft on the command line
"""


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    )


def default_case_paths() -> list[str]:
    """The embedded default case folder (written by ``ml.cohort.default_case``), if it exists."""
    from app.defaults import find_default_case

    case = find_default_case()
    return [str(case)] if case is not None else []


def run_gui(args) -> int:
    if not has_display():
        sys.stderr.write(HEADLESS_HELP)
        return 2
    from PySide6 import QtCore, QtWidgets

    from app import theme
    from app.main_window import MainWindow
    from app.settings import WorkstationSettings

    QtWidgets.QApplication.setApplicationName("Gaze2Report")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    theme.apply(app)
    settings = WorkstationSettings.load()
    backend_url = getattr(args, "backend", None)
    if backend_url:
        settings.backend_url = backend_url
        settings.backend_token = os.environ.get("GAZE2REPORT_TOKEN", settings.backend_token)
    win = MainWindow(settings)
    win.show()
    win.start_backend()
    paths = list(getattr(args, "paths", None) or [])
    if paths:
        win.open_paths(paths)
    else:
        win.open_default_case()

    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        out = Path(screenshot)
        timeout_s = float(os.environ.get("GAZE2REPORT_SCREENSHOT_TIMEOUT", "900"))

        def shoot(*_):
            QtCore.QTimer.singleShot(300, lambda: _save_and_quit(win, out, app))

        win.drafting.draft_ready.connect(shoot)
        win.drafting.draft_failed.connect(shoot)
        win.studies_ctl.study_failed.connect(shoot)
        win.studies_ctl.study_loaded.connect(lambda _uid: win.reading.versions and shoot())  # reopened: no draft
        QtCore.QTimer.singleShot(int(timeout_s * 1000), shoot)
    code = app.exec()
    return int(code)


def _save_and_quit(win, out: Path, app) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    print(f"saved {out}")
    win.close()
    app.quit()
