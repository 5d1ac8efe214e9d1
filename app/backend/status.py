"""The backend's state where the reader always sees it: a dot and a line in the status bar, and a red
banner with a restart button while the backend is dead or its model failed to load."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app import theme
from app.backend.launcher import BackendManager, BackendState

COLOURS = {
    BackendState.READY: theme.OK,
    BackendState.LOADING: theme.WARN,
    BackendState.STARTING: theme.WARN,
    BackendState.ERROR: theme.BAD,
    BackendState.DEAD: theme.BAD,
}


class BackendBanner(QtWidgets.QFrame):
    """A red strip with the reason and a restart button; shown only when the backend is dead."""

    restart = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QtWidgets.QLabel("")
        self.label.setWordWrap(True)
        self.button = QtWidgets.QPushButton("Restart backend")
        self.button.clicked.connect(self.restart)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.button)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class BackendIndicator(QtWidgets.QWidget):
    """The status bar's dot and message; drives the banner."""

    def __init__(self, backend: BackendManager, banner: BackendBanner, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = banner
        self.dot = QtWidgets.QLabel()
        self.text = QtWidgets.QLabel("")
        self.text.setObjectName("backendStatus")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.dot)
        lay.addWidget(self.text)
        self._show(theme.MUTED, "backend: not started")
        backend.state_changed.connect(self.on_state)
        banner.restart.connect(backend.restart)

    def _show(self, colour: str, text: str) -> None:
        self.dot.setPixmap(theme.dot(colour, 11))
        self.text.setText(text)

    def on_state(self, state: str, message: str) -> None:
        self._show(COLOURS.get(BackendState(state), theme.MUTED), message)
        if state in (BackendState.DEAD, BackendState.ERROR):
            self.banner.show_message(f"Backend {state}: {message}")
        else:
            self.banner.hide()
