"""The dark reading-room theme (OHIF/Weasis-like): black viewer, dark grey panels, one accent colour."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

ACCENT = "#3d8bfd"
BG = "#16181c"
PANEL = "#1e2127"
PANEL_2 = "#262a31"
TEXT = "#d8dde6"
MUTED = "#8a93a3"
OK = "#3ccf7a"
WARN = "#f2b233"
BAD = "#ef5350"

STYLE = f"""
QWidget {{ background: {BG}; color: {TEXT}; font-size: 10pt; }}
QMainWindow::separator {{ background: #0c0d0f; width: 3px; height: 3px; }}
QToolBar {{ background: {PANEL}; border: 0; border-bottom: 1px solid #0c0d0f; spacing: 2px; padding: 3px; }}
QToolBar QToolButton {{ background: transparent; border: 1px solid transparent; border-radius: 4px; padding: 4px 7px; }}
QToolBar QToolButton:hover {{ background: {PANEL_2}; border-color: #3a404a; }}
QToolBar QToolButton:checked {{ background: #24344d; border-color: {ACCENT}; color: #ffffff; }}
QToolButton#toolButton:checked {{ background: {ACCENT}; border: 1px solid {ACCENT}; border-radius: 4px; color: #ffffff; font-weight: bold; }}
QDockWidget {{ titlebar-close-icon: none; color: {MUTED}; }}
QDockWidget::title {{ background: {PANEL}; padding: 5px 8px; text-transform: uppercase; }}
QPlainTextEdit, QTextEdit, QLineEdit, QListWidget, QTreeWidget, QTableWidget, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {PANEL}; border: 1px solid #2f343d; border-radius: 4px; selection-background-color: #2b4f86; }}
QPlainTextEdit, QTextEdit {{ font-family: "DejaVu Sans"; font-size: 11pt; padding: 4px; }}
QPlainTextEdit[locked="true"] {{ background: #1b2320; border-color: #2f5a42; color: #c9e6d3; }}
QHeaderView::section {{ background: {PANEL_2}; color: {MUTED}; border: 0; padding: 4px; }}
QListWidget::item {{ padding: 5px 4px; border-bottom: 1px solid #23262c; }}
QListWidget::item:selected {{ background: #24344d; color: #ffffff; }}
QPushButton {{ background: {PANEL_2}; border: 1px solid #3a404a; border-radius: 4px; padding: 5px 12px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #5b6270; border-color: #2a2e35; }}
QPushButton#primary {{ background: #1f4f99; border-color: {ACCENT}; color: white; font-weight: bold; }}
QPushButton#danger {{ background: #5a1f22; border-color: {BAD}; color: white; }}
QLabel#sectionTitle {{ color: {MUTED}; font-weight: bold; letter-spacing: 1px; font-size: 9pt; padding-top: 4px; }}
QLabel#cornerText {{ background: rgba(0, 0, 0, 130); border-radius: 3px; padding: 1px 3px; color: #e6e6e6; font-family: "DejaVu Sans Mono"; font-size: 9pt; }}
QLabel#legend {{ background: rgba(20, 22, 26, 200); color: #e6e6e6; border: 1px solid #3a404a; border-radius: 4px; padding: 6px 8px; font-size: 9pt; }}
QLabel#viewerPlaceholder {{ background: transparent; color: #555b66; font-size: 16pt; }}
QLabel#panelTitle {{ font-size: 12pt; font-weight: bold; color: #ffffff; }}
QLabel#muted {{ color: {MUTED}; }}
QFrame#banner {{ background: #5a1f22; border-bottom: 1px solid {BAD}; }}
QFrame#banner QLabel {{ background: transparent; color: #ffe9e9; font-weight: bold; }}
QLabel#domainBanner {{ background: #5a1f22; border: 2px solid {BAD}; border-radius: 4px; color: #ffe9e9; font-weight: bold; padding: 8px; }}
QFrame#recording {{ background: #8b0000; }}
QFrame#recording QLabel {{ background: transparent; color: white; font-weight: bold; font-size: 11pt; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid #0c0d0f; }}
QStatusBar QLabel {{ background: transparent; }}
QSlider::groove:horizontal {{ height: 4px; background: #3a404a; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QTabWidget::pane {{ border: 0; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 6px 12px; border: 0; }}
QTabBar::tab:selected {{ color: #ffffff; border-bottom: 2px solid {ACCENT}; }}
QMenu {{ background: {PANEL}; border: 1px solid #3a404a; }}
QMenu::item:selected {{ background: #24344d; }}
QToolTip {{ background: {PANEL_2}; color: {TEXT}; border: 1px solid #3a404a; }}
QCheckBox {{ background: transparent; }}
QGroupBox {{ border: 1px solid #2f343d; border-radius: 4px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
"""


def apply(app: QtWidgets.QApplication) -> None:
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    for role, col in (
        (QtGui.QPalette.ColorRole.Window, BG),
        (QtGui.QPalette.ColorRole.WindowText, TEXT),
        (QtGui.QPalette.ColorRole.Base, PANEL),
        (QtGui.QPalette.ColorRole.AlternateBase, PANEL_2),
        (QtGui.QPalette.ColorRole.Text, TEXT),
        (QtGui.QPalette.ColorRole.Button, PANEL_2),
        (QtGui.QPalette.ColorRole.ButtonText, TEXT),
        (QtGui.QPalette.ColorRole.Highlight, "#2b4f86"),
        (QtGui.QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QtGui.QPalette.ColorRole.ToolTipBase, PANEL_2),
        (QtGui.QPalette.ColorRole.ToolTipText, TEXT),
    ):
        pal.setColor(role, QtGui.QColor(col))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)


def dot(color: str, size: int = 10) -> QtGui.QPixmap:
    """A filled circle pixmap for status indicators."""
    pm = QtGui.QPixmap(size, size)
    pm.fill(QtGui.QColor(0, 0, 0, 0))
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setBrush(QtGui.QColor(color))
    p.setPen(QtGui.QColor(0, 0, 0, 0))
    p.drawEllipse(0, 0, size - 1, size - 1)
    p.end()
    return pm
