"""Ten minutes of scripted use of the real workstation window on a display, then: is it alive?

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/soak_gui.py --minutes 10 --out soak/

Opens the default case and a second radiograph, and repeats a reader's cycle until the time is
up: hover over the image (every mouse move a hover event), right-drag window/level, left-drag pan,
wheel zoom, a full scanpath playback, a fresh draft (G), save (Ctrl+S), sign (Ctrl+Shift+S,
accepting a confirmation if one is asked), the compare view, and reopening the studies (PgDown,
PgUp). All input is synthetic mouse and key events (``tests/app/soak.py``). The backend is the
test suite's stand-in (real HTTP and SSE, a fixed report), or ``--backend URL`` with
``GAZE2REPORT_TOKEN`` set. Each cycle appends a JSON line to ``OUT/soak.jsonl`` (events, None's
reference drift, resident memory) and saves ``OUT/cycle_NN.png``; the last line printed is a JSON
summary, and the exit code is 0 only if the window is alive at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _second_image(folder: Path) -> Path:
    """A second study to switch to: a synthetic chest-like DX written with the project's writer."""

    from ml.imaging import write_dx
    from tests.app.conftest import chest_like

    return write_dx(chest_like(512, 512, seed=3), folder / "second.dcm", spacing_mm=(0.4, 0.4))


def _accept_dialogs() -> None:
    """Answer any question box the way a reader finishing a report would (sign, yes, OK)."""
    from PySide6 import QtWidgets

    for w in QtWidgets.QApplication.topLevelWidgets():
        if isinstance(w, QtWidgets.QMessageBox) and w.isVisible():
            for b in w.buttons():
                role = w.buttonRole(b)
                if role in (QtWidgets.QMessageBox.ButtonRole.AcceptRole, QtWidgets.QMessageBox.ButtonRole.YesRole):
                    b.click()
                    break


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=Path("soak"))
    ap.add_argument("--backend", default="", help="backend URL (default: the test suite's stand-in backend)")
    args = ap.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("no display: run under xvfb-run (see the module doc)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="g2r-soak-"))
    os.environ["GAZE2REPORT_CONFIG_DIR"] = str(work / "config")
    os.environ["GAZE2REPORT_DATA_DIR"] = str(work / "data")

    from PySide6 import QtCore, QtWidgets
    from PySide6.QtTest import QTest

    from app import theme
    from app.backend.launcher import BackendManager, BackendState
    from app.defaults import ensure_default_case
    from app.main_window import MainWindow
    from app.settings import WorkstationSettings
    from tests.app.soak import (
        Hand,
        NoneGuard,
        activate,
        image_view,
        overlays_on,
        play_through,
        process,
        unthrottled,
        use,
    )

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["soak"])
    theme.apply(app)
    fake = None
    if args.backend:
        url, token = args.backend, os.environ.get("GAZE2REPORT_TOKEN", "")
    else:
        from tests.app.fake_backend import FakeBackend

        fake = FakeBackend(delay=0.02).__enter__()
        fake.image_size = (1024, 1024)
        url, token = fake.url, fake.token
    settings = WorkstationSettings(backend_url=url, backend_token=token, user_name="Dr. Soak", reader_confirmed=True)
    win = MainWindow(settings, backend=BackendManager(url, token))
    win.resize(1800, 1000)
    win.show()
    win.start_backend()
    drafts: list[object] = []
    win.drafting.draft_ready.connect(drafts.append)
    answer = QtCore.QTimer()
    answer.timeout.connect(_accept_dialogs)
    answer.start(200)

    def wait(cond, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cond():
                return True
            process(50)
        return False

    def key(k, mod=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
        activate(win)
        QTest.keyClick(win, k, mod)
        process(100)

    log = (args.out / "soak.jsonl").open("w")
    wait(lambda: win.backend.state == BackendState.READY, 60)
    win.open_paths([str(ensure_default_case()), str(_second_image(work))])
    wait(lambda: drafts, 300)
    overlays_on(win)
    guard = NoneGuard()
    started = time.monotonic()
    cycle, events, hovers, problems = 0, 0, 0, []
    with unthrottled():
        while time.monotonic() - started < args.minutes * 60:
            cycle += 1
            hand = Hand(image_view(win), guard)
            try:
                use(hand, rounds=4, moves=150)
                if not play_through(win, hand, limit_s=240, hovers_per_tick=0):  # hovering is done above
                    problems.append(f"cycle {cycle}: playback did not finish")
                n = len(drafts)
                key(QtCore.Qt.Key.Key_G)  # a fresh draft (a signed report may refuse it: that is fine)
                wait(lambda n=n: len(drafts) > n, 60)
                key(QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
                key(
                    QtCore.Qt.Key.Key_S,
                    QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier,
                )
                before = set(QtWidgets.QApplication.topLevelWidgets())
                key(QtCore.Qt.Key.Key_C)  # compare view
                wait(lambda b=before: set(QtWidgets.QApplication.topLevelWidgets()) - b, 10)
                for w in set(QtWidgets.QApplication.topLevelWidgets()) - before:
                    if isinstance(w, QtWidgets.QDialog) and w.isVisible():
                        process(300)
                        for v in [v for v in w.findChildren(QtWidgets.QGraphicsView) if v.isVisible()]:
                            h = Hand(v, guard)
                            use(h, rounds=1, moves=150)
                            events, hovers = events + h.events, hovers + h.hovers
                        w.close()
                key(QtCore.Qt.Key.Key_PageDown)  # the other study, then back: reopen both
                wait(lambda: False, 2)
                key(QtCore.Qt.Key.Key_PageUp)
                wait(lambda: False, 2)
                guard.check(f"cycle {cycle}", events + hand.events)
            except AssertionError as exc:
                problems.append(f"cycle {cycle}: {exc}")
                break
            finally:
                events, hovers = events + hand.events, hovers + hand.hovers
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            row = {
                "cycle": cycle,
                "minutes": round((time.monotonic() - started) / 60, 2),
                "mouse_events": events,
                "hover_events": hovers,
                "drafts": len(drafts),
                "none_refs_lost": guard.drift(),
                "max_rss_mb": round(rss_mb),
            }
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(json.dumps(row), flush=True)
            win.grab().save(str(args.out / f"cycle_{cycle:02d}.png"))
    fired: list[bool] = []
    QtCore.QTimer.singleShot(0, lambda: fired.append(True))
    process(100)
    alive = bool(fired) and win.isVisible()
    shot = args.out / "final.png"
    win.grab().save(str(shot))
    summary = {
        "alive": alive,
        "minutes": round((time.monotonic() - started) / 60, 2),
        "cycles": cycle,
        "mouse_events": events,
        "hover_events": hovers,
        "drafts": len(drafts),
        "none_refs_lost": guard.drift(),
        "problems": problems,
        "screenshot": str(shot),
    }
    print(json.dumps(summary), flush=True)
    win.close()
    if fake is not None:
        fake.__exit__(None, None, None)
    return 0 if alive and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
