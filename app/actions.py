"""The workstation's commands: one ``QAction`` each, shared by the menus, the toolbar, the buttons and the key.

A shortcut therefore does exactly what its menu item does, and a command that may not run now is
disabled everywhere at once. Slots are called without ``triggered``'s checked flag, so a command
never receives a stray ``False`` as its first argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from app.annotation.tools import POINTER
from app.components.reading import GazeChoice
from ml.types import AnnotationShape

if TYPE_CHECKING:
    from app.main_window import MainWindow


def command(
    window: QtWidgets.QMainWindow,
    text: str,
    slot: Callable[[], object],
    shortcut: str | list[str] | None = None,
    tip: str = "",
    menu: QtWidgets.QMenu | None = None,
) -> QtGui.QAction:
    """A window-wide action for ``slot`` (called with no arguments), in ``menu`` when given."""
    action = QtGui.QAction(text, window)
    keys = [shortcut] if isinstance(shortcut, str) else list(shortcut or [])
    if keys:
        action.setShortcuts([QtGui.QKeySequence(k) for k in keys])
        action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
    action.setToolTip(f"{tip or text} ({keys[0]})" if keys else tip or text)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    if menu is not None:
        menu.addAction(action)
    return action


def build_actions(win: MainWindow) -> None:
    """Create the window's menus, toolbar and actions (``win.act_*``)."""
    bar = win.toolbar = win.addToolBar("Viewer")
    bar.setObjectName("viewerToolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
    win.preset_box = QtWidgets.QComboBox()
    win.preset_box.setToolTip("Window/level presets (right-drag: horizontal = level, vertical = width)")
    win.preset_box.setMinimumWidth(170)
    win.record_btn = QtWidgets.QToolButton()
    win.record_btn.setText("● Record gaze")
    win.record_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
    v, menus = win.view, win.menuBar()
    file_menu, view_menu = menus.addMenu("&File"), menus.addMenu("&View")
    report_menu, gaze_menu = menus.addMenu("&Report"), menus.addMenu("&Gaze")
    annotate_menu, help_menu = menus.addMenu("&Annotate"), menus.addMenu("&Help")

    def show_model(win) -> None:
        from app.model_dialog import ModelDialog

        dlg = ModelDialog(win.settings.data_path / "models", [win.settings.db_path], win)
        dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()

    def act(text, slot, shortcut=None, tip="", menu=None, toolbar=False):
        action = command(win, text, slot, shortcut, tip, menu)
        if toolbar:
            bar.addAction(action)
        return action

    win.act_open = act("Open…", win.open_dialog, "Ctrl+O", "Open DICOM/PNG files or a folder", file_menu, True)
    win.act_next = act("Next study", lambda: win.step_study(1), "PgDown", menu=file_menu)
    win.act_prev = act("Previous study", lambda: win.step_study(-1), "PgUp", menu=file_menu)
    file_menu.addSeparator()
    win.act_settings = act("Settings…", win.settings_ctl.edit, "Ctrl+,", "Backend, reader, data directory, screen geometry", file_menu)
    win.act_model = act("Model…", lambda: show_model(win), None,
                        "The serving model, its gate table, and a refresh from this site's signed studies", file_menu)
    bar.addSeparator()
    win.act_fit = act("Fit", v.fit, "F", "Fit the image to the window", view_menu, True)
    win.act_zoom_in = act("Zoom in", lambda: v.zoom_by(1.2), ["+", "="], menu=view_menu)
    win.act_zoom_out = act("Zoom out", lambda: v.zoom_by(1 / 1.2), "-", menu=view_menu)
    win.act_invert = act("Invert", v.toggle_invert, "I", "Invert the grey scale", view_menu, True)
    win.act_rotate = act("Rotate", lambda: v.rotate(90), "R", "Rotate 90° clockwise", view_menu, True)
    win.act_flip_h = act("Flip H", lambda: v.flip(True), "H", "Flip horizontally", view_menu, True)
    win.act_flip_v = act("Flip V", lambda: v.flip(False), "V", "Flip vertically", view_menu, True)
    win.act_reset = act("Reset", v.reset, "Space", "Reset window, orientation and zoom", view_menu, True)
    win.act_auto = act("Auto W/L", v.auto_window, "A", "Automatic window/level", view_menu, True)
    bar.addWidget(win.preset_box)
    bar.addSeparator()

    win.act_generate = act("Draft", lambda: win.drafting.generate(GazeChoice.AUTO), "G",
                           "Generate a draft: with the recorded gaze when there is one, else predicted gaze", report_menu)
    win.act_save = act("Save report", win.review.save, "Ctrl+S", "Keep this text as a new version", report_menu)
    win.act_sign = act("Sign report", win.review.sign, "Ctrl+Shift+S", "Sign the report: it becomes final", report_menu)
    win.act_amend = act("Write an addendum", win.review.amend, "Ctrl+Shift+A",
                        "Correct the signed report with a signed addendum", report_menu)
    win.act_versions = act("Versions…", win.review.show_versions, None, "Every version with who and when", report_menu)

    rmenu = QtWidgets.QMenu(win.record_btn)
    for kind, label in (
        ("mouse", "Mouse (gaze follows the cursor)"),
        ("tobii", "Tobii eye tracker"),
        ("lsl", "LSL gaze stream"),
        ("replay", "Replay the recorded reading"),
    ):
        rmenu.addAction(label).triggered.connect(lambda _=False, k=kind: win.session.begin(k))
    rmenu.addSeparator()
    rmenu.addAction("Choose the source…").triggered.connect(lambda _=False: win.session.pick_source())
    win.record_btn.setMenu(rmenu)
    win.act_record = act("Record gaze", lambda: win.session.begin(win.settings.gaze_source), "Ctrl+R",
                         "Record a gaze session: validate, then record until Stop", gaze_menu)
    win.record_btn.clicked.connect(win.act_record.trigger)
    bar.addWidget(win.record_btn)
    win.act_stop_recording = act("Stop recording", lambda: win.session.stop(), "Ctrl+E", menu=gaze_menu)
    win.act_compare = act("Compare", win.show_compare, "C", "Real vs predicted gaze with the metrics", gaze_menu, True)

    ap, ac = win.annotation_panel, win.annotations
    shortcut_of = {POINTER: "Esc", AnnotationShape.ELLIPSE: "E", AnnotationShape.BOX: "B"}
    shortcut_of |= {AnnotationShape.POLYGON: "P", AnnotationShape.POINT: "T"}
    for tool, key in shortcut_of.items():
        act(f"Annotation tool: {tool}", lambda t=tool: (ap.set_tool(t), win.annotation_dock.raise_()), key,
            menu=annotate_menu)
    act("Finish polygon", ac.finish_polygon, "Return", menu=annotate_menu)
    act("Delete annotation", lambda: ac.delete(), "Delete", menu=annotate_menu)
    act("Undo", ac.undo.undo, "Ctrl+Z", menu=annotate_menu)
    act("Redo", ac.undo.redo, "Ctrl+Shift+Z", menu=annotate_menu)

    spacer = QtWidgets.QWidget()
    spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    bar.addAction(win.act_settings)
    win.act_help = act("Shortcuts", win.show_shortcuts, "F1", "Keyboard shortcuts", help_menu, True)
