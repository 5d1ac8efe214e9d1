"""Real vs predicted gaze: side by side (linked zoom/pan) or overlaid, with the metrics table.

The numbers come from ``ml.metrics.compare_scanpaths`` (the same call the CLI and the evaluation
use), run on a worker thread. "For the set" predicts a scanpath for every study in the worklist
that has real gaze (through the backend) and averages the per-case results (``mean_metrics``).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6 import QtCore, QtWidgets

from app import workers
from app.viewer.image_view import ImageView
from app.viewer.overlays import (
    PREDICTED_CMAP,
    PREDICTED_COLOUR,
    RECORDED_CMAP,
    RECORDED_COLOUR,
    ScanpathLayer,
)
from ml.types import Scanpath, ScanpathSource

ROWS: list[tuple[str, str, str | None]] = [
    ("MultiMatch vector", "multimatch", "vector"),
    ("MultiMatch direction", "multimatch", "direction"),
    ("MultiMatch length", "multimatch", "length"),
    ("MultiMatch position", "multimatch", "position"),
    ("MultiMatch duration", "multimatch", "duration"),
    ("ScanMatch", "scanmatch", None),
    ("String edit distance", "sed", None),
    ("DTW (px)", "dtw", None),
    ("NSS", "nss", None),
    ("AUC-Judd", "auc_judd", None),
    ("CC", "cc", None),
    ("KL divergence", "kl", None),
    ("IoU", "iou", None),
]


def metric_value(result: dict[str, Any], key: str, sub: str | None) -> float:
    v = result.get(key)
    if sub is not None:
        v = (v or {}).get(sub)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def compare_case(predicted: Scanpath, real: list[Scanpath], image_size: tuple[int, int]) -> dict[str, Any]:
    """Worker thread: the predicted scanpath against each real reader, averaged."""
    from ml.metrics import compare_to_readers

    return compare_to_readers(predicted, real, image_size)


class CompareDialog(QtWidgets.QDialog):
    computed = QtCore.Signal(dict)  # the case's metrics
    unavailable = QtCore.Signal(str)  # why the case could not be compared
    set_computed = QtCore.Signal(dict)  # the set's averages

    def __init__(self, window, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.win = window
        self.setWindowTitle("Compare real and predicted gaze")
        self.resize(1500, 900)
        self.left = ImageView()
        self.right = ImageView()
        self.right.vb.setXLink(self.left.vb)
        self.right.vb.setYLink(self.left.vb)
        self.real_layer = ScanpathLayer("Real gaze", RECORDED_COLOUR, RECORDED_CMAP)
        self.pred_layer = ScanpathLayer("Predicted gaze", PREDICTED_COLOUR, PREDICTED_CMAP)
        self.pred_on_left = ScanpathLayer("Predicted gaze", PREDICTED_COLOUR, PREDICTED_CMAP, numbered=False)
        self.real_layer.setParentItem(self.left.root)
        self.pred_on_left.setParentItem(self.left.root)
        self.pred_layer.setParentItem(self.right.root)
        self.pred_on_left.setVisible(False)

        self.overlay_box = QtWidgets.QCheckBox("Overlaid")
        self.overlay_box.toggled.connect(self.set_overlaid)
        self.table = QtWidgets.QTableWidget(len(ROWS), 3)
        self.table.setHorizontalHeaderLabels(["Metric", "This case", "Set average"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, (name, key, _sub) in enumerate(ROWS):
            from ml.metrics import HIGHER_IS_BETTER

            arrow = "↑" if HIGHER_IS_BETTER.get(key, True) else "↓"
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(f"{name} {arrow}"))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumWidth(420)
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.set_btn = QtWidgets.QPushButton("Compute for the set")
        self.set_btn.setToolTip("Predict a scanpath for every study with real gaze and average the metrics")
        self.set_btn.clicked.connect(self.compute_set)

        views = QtWidgets.QSplitter()
        for title, view in (("Real gaze", self.left), ("Predicted gaze", self.right)):
            box = QtWidgets.QWidget()
            bl = QtWidgets.QVBoxLayout(box)
            bl.setContentsMargins(0, 0, 0, 0)
            lab = QtWidgets.QLabel(title)
            lab.setObjectName("sectionTitle")
            bl.addWidget(lab)
            bl.addWidget(view, 1)
            views.addWidget(box)
        self.right_box = views.widget(1)
        side = QtWidgets.QWidget()
        sl = QtWidgets.QVBoxLayout(side)
        sl.addWidget(self.overlay_box)
        sl.addWidget(self.table, 1)
        sl.addWidget(self.set_btn)
        sl.addWidget(self.status)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(views, 1)
        lay.addWidget(side)
        self.metrics: dict[str, Any] | None = None
        self.set_metrics: dict[str, Any] | None = None

    # ----------------------------------------------------------------- data
    def load(self) -> None:
        """Show the current study and compute its metrics (predicting a scanpath if needed)."""
        win = self.win
        if win.image is None or win.current is None:
            self._unavailable("Open a study first")
            return
        for v in (self.left, self.right):
            v.set_image(win.image, win.view.display, win.current.id)
        real = win.real_scanpaths()
        self.real_layer.set_scanpaths(real[-1:])
        predicted = (
            win.draft.scanpath
            if win.draft and win.draft.scanpath and win.draft.scanpath.source == ScanpathSource.PREDICTED
            else None
        )
        if predicted is not None:
            self._with_prediction(predicted, real)
        else:
            self.status.setText("Asking the backend for a predicted scanpath…")
            client, image = win.backend.client(), win.image
            workers.submit(
                lambda: client.scanpaths(image, n=1)[0],
                lambda sp: self._with_prediction(sp, real),
                lambda exc: self._unavailable(
                    f"No predicted scanpath from the backend: {workers.error_text(exc)}"
                ),
                context=self,
            )

    def _with_prediction(self, predicted: Scanpath, real: list[Scanpath]) -> None:
        self.pred_layer.set_scanpaths([predicted])
        self.pred_on_left.set_scanpaths([predicted])
        if not real:
            self._unavailable("This study has no real gaze yet: record a session to compare")
            return
        self.status.setText(f"Predicted vs {len(real)} real reading(s)…")
        size = self.win.image.size
        workers.submit(
            lambda: compare_case(predicted, real, size), self._show_case, self._error, context=self
        )

    def _show_case(self, metrics: dict[str, Any]) -> None:
        self.metrics = metrics
        self._fill(1, metrics)
        self.status.setText(f"Predicted vs {metrics.get('n', 1)} real reading(s) of this case")
        self.computed.emit(metrics)

    def _error(self, exc: BaseException) -> None:
        self._unavailable(workers.error_text(exc))

    def _unavailable(self, message: str) -> None:
        self.status.setText(message)
        self.unavailable.emit(message)

    def compute_set(self) -> None:
        studies = [s for s in self.win.studies if self.win.real_scanpaths(s)]
        if not studies:
            self.status.setText("No study in the worklist has real gaze")
            return
        client = self.win.backend.client()
        real_of = {s.id: self.win.real_scanpaths(s) for s in studies}
        self.set_btn.setEnabled(False)
        self.status.setText(f"Predicting and comparing {len(studies)} studies…")

        def run():
            from ml.imaging import load_image
            from ml.metrics import mean_metrics

            per_case = []
            for s in studies:
                image = load_image(s.image_path)
                pred = client.scanpaths(image, n=1)[0]
                per_case.append(compare_case(pred, real_of[s.id], image.size))
            out = mean_metrics(per_case)
            out["n"] = len(per_case)
            return out

        def done(avg):
            self.set_btn.setEnabled(True)
            self.set_metrics = avg
            self._fill(2, avg)
            self.status.setText(f"Set average over {avg['n']} studies")
            self.set_computed.emit(avg)

        def fail(exc):
            self.set_btn.setEnabled(True)
            self._error(exc)

        workers.submit(run, done, fail, context=self)

    def _fill(self, column: int, metrics: dict[str, Any]) -> None:
        for r, (_name, key, sub) in enumerate(ROWS):
            v = metric_value(metrics, key, sub)
            self.table.setItem(r, column, QtWidgets.QTableWidgetItem("–" if math.isnan(v) else f"{v:.3f}"))

    def set_overlaid(self, on: bool) -> None:
        self.right_box.setVisible(not on)
        self.pred_on_left.setVisible(on)
