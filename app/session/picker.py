"""The tracker picker: every source that can record here, with a state line each, and the choice.

Rows come from ``ml.gaze.sources.listing.list_sources`` (Tobii trackers through TittaPy or the
Tobii Pro SDK, LSL gaze streams, mouse, replay), discovered on a worker thread so the window never
waits on the network. A source that cannot record is listed greyed out with the reason (not
installed, no tracker found, no stream), so the reader sees why the tracker on the desk is missing.
While a session records, the row of the source in use shows its live state line (connected,
measured frequency, last sample age) from the controller's ``SourceMonitor``. For a Tobii tracker
the frequency and tracking mode it supports can be chosen; they are set when it connects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from app import workers
from ml.gaze.sources.listing import SourceChoice, SourceKind, SourceMonitor, list_sources

_ICON = {SourceKind.TOBII: "◉", SourceKind.LSL: "≋", SourceKind.MOUSE: "➚", SourceKind.REPLAY: "↻"}


class TrackerPicker(QtWidgets.QDialog):
    """Choose the gaze source; ``choice`` holds it after ``accept``.

    ``lister`` returns the rows (default: ``list_sources``; tests inject one); ``monitor`` gives the
    live state line of the source in use, if a session is running.
    """

    listed = QtCore.Signal(list)

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        *,
        lister: Callable[[], list[SourceChoice]] | None = None,
        monitor: Callable[[], SourceMonitor | None] | None = None,
        current: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Gaze source")
        self.setMinimumWidth(520)
        self.lister = lister or list_sources
        self.monitor = monitor or (lambda: None)
        self.current = current
        self.choices: list[SourceChoice] = []
        self.choice: SourceChoice | None = None
        self.list = QtWidgets.QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.itemSelectionChanged.connect(self._selection)
        self.list.itemDoubleClicked.connect(lambda _i: self._use())
        self.status = QtWidgets.QLabel("Looking for trackers and LSL gaze streams…")
        # a Tobii tracker's settings: the frequencies and tracking modes it supports
        self.frequency = QtWidgets.QComboBox()
        self.mode = QtWidgets.QComboBox()
        self.tracker_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(self.tracker_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QtWidgets.QLabel("Frequency"))
        row.addWidget(self.frequency)
        row.addWidget(QtWidgets.QLabel("Tracking mode"))
        row.addWidget(self.mode)
        row.addStretch(1)
        self.tracker_row.hide()
        self.refresh_btn = QtWidgets.QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        self.use_btn = QtWidgets.QPushButton("Use this source")
        self.use_btn.setDefault(True)
        self.use_btn.setEnabled(False)
        self.use_btn.clicked.connect(self._use)
        cancel = QtWidgets.QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.refresh_btn)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.use_btn)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.tracker_row)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self._live = QtCore.QTimer(self)
        self._live.setInterval(500)
        self._live.timeout.connect(self._update_live)
        self._live.start()

    # ----------------------------------------------------------------- discovery
    def refresh(self) -> None:
        self.refresh_btn.setEnabled(False)
        self.status.setText("Looking for trackers and LSL gaze streams…")
        workers.submit(self.lister, self._show, self._failed, context=self)

    def _failed(self, exc: BaseException) -> None:
        self.refresh_btn.setEnabled(True)
        self.status.setText(f"Could not list the sources: {workers.error_text(exc)}")

    def _show(self, choices: list[SourceChoice]) -> None:
        self.choices = list(choices)
        self.list.clear()
        for c in self.choices:
            item = QtWidgets.QListWidgetItem(self._text(c, c.state_line))
            item.setData(QtCore.Qt.ItemDataRole.UserRole, c)
            item.setToolTip(c.message or c.detail)
            if not c.available:
                item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsSelectable)
                item.setForeground(QtGui.QBrush(QtGui.QColor(140, 140, 140)))
            self.list.addItem(item)
        usable = [c for c in self.choices if c.available]
        trackers = [c for c in usable if c.kind in (SourceKind.TOBII, SourceKind.LSL)]
        self.status.setText(
            f"{len(trackers)} tracker(s) ready" if trackers else "No tracker ready: the mouse and replay still work"
        )
        self.refresh_btn.setEnabled(True)
        self._select_default()
        self._update_live()
        self.listed.emit(self.choices)

    def _select_default(self) -> None:
        for i, c in enumerate(self.choices):
            if c.available and (c.kind.value == self.current or c.kind in (SourceKind.TOBII, SourceKind.LSL)):
                self.list.setCurrentRow(i)
                return
        for i, c in enumerate(self.choices):
            if c.available:
                self.list.setCurrentRow(i)
                return

    @staticmethod
    def _text(c: SourceChoice, line: str) -> str:
        return f"{_ICON.get(c.kind, '•')}  {c.label}\n      {line}"

    def _update_live(self) -> None:
        mon = self.monitor()
        if mon is None:
            return
        for i in range(self.list.count()):
            item = self.list.item(i)
            c: SourceChoice = item.data(QtCore.Qt.ItemDataRole.UserRole)
            if c.kind.value == mon.source.name and c.available:
                item.setText(self._text(c, mon.state_line()))
                break

    # ----------------------------------------------------------------- choosing
    def _selection(self) -> None:
        item = self.list.currentItem()
        c = item.data(QtCore.Qt.ItemDataRole.UserRole) if item is not None else None
        self.use_btn.setEnabled(bool(c is not None and c.available))
        t = c.tracker if c is not None and c.available else None
        self.tracker_row.setVisible(bool(t and (t.supported_frequencies or t.supported_modes)))
        if t is None:
            return
        self.frequency.clear()
        for f in t.supported_frequencies:
            self.frequency.addItem(f"{f:g} Hz", float(f))
        self.frequency.setCurrentIndex(max(0, self.frequency.findData(float(t.frequency))))
        self.mode.clear()
        for m in t.supported_modes:
            self.mode.addItem(m, m)
        self.mode.setCurrentIndex(max(0, self.mode.findData(t.tracking_mode)))

    def _use(self) -> None:
        item = self.list.currentItem()
        c = item.data(QtCore.Qt.ItemDataRole.UserRole) if item is not None else None
        if c is None or not c.available:
            return
        if c.tracker is not None and self.tracker_row.isVisibleTo(self):
            c = dataclasses.replace(
                c,
                frequency=self.frequency.currentData() if self.frequency.count() else None,
                tracking_mode=self.mode.currentData() if self.mode.count() else None,
            )
        self.choice = c
        self.accept()

    def showEvent(self, ev: QtGui.QShowEvent) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self.choices:
            self.refresh()
