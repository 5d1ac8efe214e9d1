"""Make the README's screenshots by driving the real workstation (``make screenshots``).

Runs the window on a display (re-executing itself under ``xvfb-run`` when there is none), with
fresh settings and database directories, against the real local backend (or ``--backend URL``),
on the embedded default case, and saves into ``docs/screenshots/``:

  01_default_case_draft.png   the default case with the streamed draft
  02_gaze_attention.png       real (recorded) vs predicted gaze and the GNN attention overlay
  03_compare.png              the compare view with the metrics table
  04_edit_sign.png            the edited, signed report (locked) and its chips
  05_versions_diff.png        the versions dialog: model draft vs signed text
  06_annotations.png          annotation tools: a drawn finding linked to its sentence
  07_validation.png           the gaze-session validation result in degrees
  08_recording.png            a mouse-gaze session while recording
  09_session_saved.png        the session's fixations as the recorded overlay
  10_export.png               the DICOM SR export, validated by reading it back
  11_compare_readings.png     the compare view with two recorded readings (two readers) side by side
  12_out_of_domain.png        a film unlike the model's training images: the banner over its draft

Every picture is made from the current code; nothing is drawn by this script except the
simulated reader's mouse positions (the "gaze" of the mouse session).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"


def _ensure_display(argv: list[str]) -> None:
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("G2R_SHOTS_CHILD"):
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        print("no display and no xvfb-run: rendering offscreen", file=sys.stderr)
        return
    env = dict(os.environ, G2R_SHOTS_CHILD="1")
    cmd = [xvfb, "-a", "-s", "-screen 0 1920x1080x24", sys.executable, __file__, *argv]
    sys.exit(subprocess.call(cmd, env=env))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None, help="backend URL (default: start the local backend)")
    ap.add_argument(
        "--bundle", default="", help="model bundle for the local backend (default: the backend's default)"
    )
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for the draft")
    args = ap.parse_args(argv)
    _ensure_display(argv)

    tmp = Path(tempfile.mkdtemp(prefix="g2r-shots-"))
    os.environ["GAZE2REPORT_CONFIG_DIR"] = str(tmp / "config")
    os.environ["GAZE2REPORT_DATA_DIR"] = str(tmp / "data")
    sys.path.insert(0, str(ROOT))
    from PySide6 import QtCore, QtWidgets

    from app import theme
    from app.main_window import MainWindow
    from app.settings import WorkstationSettings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["gaze2report"])
    theme.apply(app)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def wait_for(signal, timeout_s: float, what: str, *others):
        """Run the event loop until ``signal`` (or one of ``others``) fires; returns its arguments."""
        loop = QtCore.QEventLoop()
        got: list = []

        def hit(*a):
            got.append(a)
            loop.quit()

        for sig in (signal, *others):
            sig.connect(hit)
        QtCore.QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        for sig in (signal, *others):
            sig.disconnect(hit)
        if not got:
            raise TimeoutError(f"timed out waiting for {what}")
        return got[0]

    def pause(ms: int) -> None:
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(widget, name: str) -> None:
        pause(400)
        path = out / name
        widget.grab().save(str(path))
        print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    settings = WorkstationSettings(user_name="Dr. A. Reader", reader_confirmed=True, backend_bundle=args.bundle)
    if args.backend:
        settings.backend_url = args.backend
        settings.backend_token = os.environ.get("GAZE2REPORT_TOKEN", "")
    win = MainWindow(settings)
    win.review.confirm = lambda title, text: True  # the reader answers Yes to "Sign the report?"
    win.resize(1600, 1000)
    win.move(0, 0)
    win.show()
    win.start_backend()
    t0 = time.monotonic()
    win.open_default_case()
    result = wait_for(win.drafting.draft_ready, args.timeout, "the draft", win.drafting.draft_failed)[0]
    print(f"draft after {time.monotonic() - t0:.0f} s: {result if isinstance(result, str) else 'ok'}")
    if not win.reading.labels:
        wait_for(win.review.labels_updated, 30, "the labeler")
    shot(win, "01_default_case_draft.png")

    # 2. real vs predicted gaze + attention
    win.overlays.set_visible("attention", True)
    win.overlays.set_visible("heatmap", True)  # the real gaze's fixation heat map
    if win.reading.labels:
        first = next((k for k, v in win.reading.labels.items() if v == 1), None)
        if first:
            win.say(win.overlays.show_attention(first))
    shot(win, "02_gaze_attention.png")
    win.overlays.set_visible("heatmap", False)
    dlg = win.show_compare()
    dlg.resize(1500, 860)
    wait_for(dlg.computed, 300, "the compare metrics", dlg.unavailable)
    print(f"compare: {dlg.status.text()}")
    shot(dlg, "03_compare.png")
    dlg.close()
    win.overlays.set_visible("attention", False)

    # 3. edit and sign
    ed = win.report.editor
    ed.impression.setPlainText(
        (ed.impression.toPlainText() + " ").lstrip()
        + "Left upper lobe nodule and moderate right pleural effusion; CT recommended."
    )
    win.review.save()
    wait_for(win.review.report_saved, 20, "save")
    win.review.sign()
    wait_for(win.review.report_saved, 20, "sign")
    shot(win, "04_edit_sign.png")
    from app.report.versions import VersionsDialog

    versions = win.store.run_sync(lambda s: s.report_versions(win.current.id))
    vd = VersionsDialog(versions, win)
    vd.resize(1100, 640)
    vd.show()
    shot(vd, "05_versions_diff.png")
    vd.close()

    # 4. annotations
    from ml.types import Finding

    f = next(iter(win.current.findings), None)
    box = (f.x0, f.y0, f.x1, f.y1) if f else (300, 300, 500, 500)
    ann = win.annotations.add(Finding("Lung Lesion", *box, shape="ellipse", certainty=4))
    from app.report.editor import split_sentences

    sentences = [s for s in split_sentences(ed.text()) if len(s.split()) > 3]
    key = next(
        (s for s in sentences if any(w in s.lower() for w in ("nodule", "lesion", "mass", "lung"))), None
    )
    if key or sentences:
        win.annotation_panel.sentence = key or sentences[0]
        win.annotation_panel.link_current()
        win.annotations.select(ann)
        win.report.editor.highlight_sentence(win.annotation_panel.sentence)
    win.annotation_dock.raise_()
    win.overlays.set_visible("recorded", False)
    shot(win, "06_annotations.png")
    win.overlays.set_visible("recorded", True)
    win.layers_dock.raise_()

    # 5. mouse-gaze session: validation, recording, saved fixations
    ctl = win.session
    ctl.begin("mouse", validate=True, dialog_kwargs={"travel_s": 0.5, "dwell_s": 0.8, "full_screen": True})
    vdlg = ctl.validation_dialog
    vdlg.target_resting.connect(lambda i, gx, gy: ctl.source.move_to(gx + 6.0 * (i % 2 * 2 - 1), gy + 4.0))
    wait_for(vdlg.finished_targets, 60, "validation")
    shot(vdlg, "07_validation.png")
    ctl.source.move_to(-3000, -3000)
    vdlg.record_btn.click()
    wait_for(ctl.state_changed, 30, "recording start")
    while ctl.state != "recording":
        wait_for(ctl.state_changed, 30, "recording")
    reading = [(510, 330), (700, 300), (690, 420), (420, 520), (330, 640), (760, 640), (520, 800), (600, 560)]
    for i, (x, y) in enumerate(reading):
        ctl.source.move_to(*win.view.viewport_state().to_screen(x, y))
        pause(450 + 120 * (i % 3))
        if i == 4:
            shot(win, "08_recording.png")
    ctl.stop()
    wait_for(ctl.session_saved, 60, "the session")
    win.overlays.set_visible("findings", False)
    shot(win, "09_session_saved.png")
    win.overlays.set_visible("findings", True)

    # 6. export the signed report as DICOM SR (validated by reading it back)
    export_dir = tmp / "export"
    from app.dialogs import ExportResult

    told = ExportResult(win, win.exports)
    win.exports.export("sr", str(export_dir / "default_case_report.dcm"))
    wait_for(win.exports.exported, 60, "the SR export", win.exports.failed)
    box = told.box
    pause(600)  # grab the window with the message box on top of it
    screen = app.primaryScreen()
    pix = screen.grabWindow(0, 0, 0, win.frameGeometry().width(), win.frameGeometry().height())
    if pix.isNull() or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pix = box.grab()
    pix.save(str(out / "10_export.png"))
    print(f"saved {out / '10_export.png'}")
    box.close()

    # 7. a second reader's session, then the compare view with the two recorded readings side by side
    win.settings.user_name = "Dr. B. Second"
    ctl.begin("mouse", validate=False)
    while ctl.state != "recording":
        wait_for(ctl.state_changed, 30, "the second recording")
    second = [(640, 280), (420, 330), (380, 470), (650, 470), (700, 620), (400, 660), (560, 760)]
    for i, (x, y) in enumerate(second):
        ctl.source.move_to(*win.view.viewport_state().to_screen(x, y))
        pause(420 + 150 * (i % 2))
    ctl.stop()
    wait_for(ctl.session_saved, 60, "the second session")
    dlg = win.show_compare()
    dlg.resize(1500, 860)
    wait_for(dlg.computed, 300, "the compare metrics", dlg.unavailable)
    labels = [r.label for r in dlg.readings]
    first_reader = next(i for i, label in enumerate(labels) if label.startswith("Dr. A."))
    second_reader = next(i for i, label in enumerate(labels) if label.startswith("Dr. B."))
    dlg.pick(first_reader, second_reader)
    wait_for(dlg.computed, 300, "the two readings' metrics", dlg.unavailable)
    shot(dlg, "11_compare_readings.png")
    dlg.close()

    # 8. a film unlike the training images: the default case with its grey scale inverted (a lost
    # MONOCHROME1 flag looks like this); the domain gate flags it and the report says so
    import numpy as np
    from PIL import Image as PILImage

    from ml.cohort.default_case import default_case_dir

    grey = np.asarray(PILImage.open(default_case_dir() / "image.png"))
    inverted = tmp / "default_case_inverted.png"
    PILImage.fromarray((grey.max() - grey).astype(grey.dtype)).save(inverted)
    win.settings.user_name = "Dr. A. Reader"
    win.studies_ctl.open_paths([str(inverted)])
    wait_for(win.drafting.draft_ready, args.timeout, "the out-of-domain draft", win.drafting.draft_failed)
    if not win.reading.labels:
        wait_for(win.review.labels_updated, 30, "the labeler")
    shot(win, "12_out_of_domain.png")
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalisation: PySide6 can crash tearing down a used QApplication


if __name__ == "__main__":
    sys.exit(main())
