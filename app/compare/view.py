"""Compare any two readings of the open study: side by side (linked zoom/pan) or overlaid, with the
metrics table.

Either side can be any reading (``app.compare.readings``): a session recorded on this workstation,
a reader of the study's dataset, or a predicted sample; two real readings give inter-reader
agreement. The numbers come from ``ml.metrics.compare_scanpaths`` (the same call the CLI and the
evaluation use, the right-hand reading as the candidate, the left-hand one as the reference) and
``ml.metrics.distributions`` (how human the right-hand reading's saccades, durations, fixation
count and coverage are), run on a worker thread. "For the set" predicts a scanpath for every study
in the worklist that has real gaze (through the backend), averages the per-case results
(``mean_metrics``) and measures the distance between the predicted and the real distributions,
beside the same numbers between the readers themselves (the human level).
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
import shiboken6
from PySide6 import QtCore, QtWidgets

from app import workers
from app.compare.readings import (
    Reading,
    ReadingKind,
    dataset_readings,
    default_pair,
    predicted_readings,
    session_readings,
)
from app.viewer.image_view import ImageView
from app.viewer.overlays import (
    PREDICTED_CMAP,
    PREDICTED_COLOUR,
    RECORDED_CMAP,
    RECORDED_COLOUR,
    ScanpathLayer,
)
from ml.types import Scanpath, ScanpathSource

#: How many predictor samples the view asks the backend for.
PREDICTED_SAMPLES = 3
#: The right-hand reading's style when it is of the same kind as the left-hand one.
SECOND_COLOUR, SECOND_CMAP = "#4fc3f7", "magma"

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
    ("Saccade amplitude W₁ (diagonal)", "saccade_amplitude", None),
    ("Fixation duration W₁ (s)", "fixation_duration", None),
    ("Fixation count W₁", "fixation_count", None),
    ("Coverage W₁ (8×8 cells)", "coverage", None),
]


def metric_value(result: dict[str, Any], key: str, sub: str | None) -> float:
    v = result.get(key)
    if sub is not None:
        v = (v or {}).get(sub)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def number(v: float) -> str:
    """Three decimals, or one for large values (DTW in pixels), so each fits its column."""
    if math.isnan(v):
        return "–"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"


def compare_pair(candidate: Scanpath, reference: Scanpath, image_size: tuple[int, int]) -> dict[str, Any]:
    """Worker thread: every metric of one reading against another, human-likeness included."""
    from ml.metrics import compare_scanpaths
    from ml.metrics.distributions import distribution_distances

    out = compare_scanpaths(candidate, reference, image_size)
    out.update(distribution_distances([candidate], [reference]))
    return out


def compare_set(per_case: list[tuple[Scanpath, list[Scanpath], tuple[int, int]]]) -> dict[str, Any]:
    """Worker thread: per study the predicted path against each real reader, averaged over the set,
    and the predicted set's distributions against the real readers' (pooled over the set); under
    ``readers`` the same numbers between the readers themselves (studies with two or more), the
    human level the prediction is read against."""
    from ml.metrics import compare_to_readers, inter_reader_agreement, mean_metrics
    from ml.metrics.distributions import distribution_distances, reader_baseline

    out = mean_metrics([compare_to_readers(pred, real, size) for pred, real, size in per_case])
    out.update(
        distribution_distances([p for p, _, _ in per_case], [r for _, real, _ in per_case for r in real])
    )
    out["n"] = len(per_case)
    several = [(real, size) for _, real, size in per_case if len(real) >= 2]
    readers = mean_metrics([inter_reader_agreement(real, size) for real, size in several])
    readers.update(reader_baseline([real for real, _ in several]))
    readers["n"] = len(several)
    out["readers"] = readers
    return out


class ReadingLayer(ScanpathLayer):
    """A scanpath layer whose fixations are ringed in the reading's legend colour, so two readings
    overlaid stay apart even where their time shading is alike."""

    def set_time(self, t: float) -> None:
        super().set_time(t)
        if len(self.scatter.data):  # not points(): its spot items and the scatter hold each other
            self.scatter.setPen(pg.mkPen(self.colour, width=3))


def reading_style(kind: ReadingKind) -> tuple[str, str]:
    """Legend colour and colour map of a reading: real gaze green (viridis), predicted orange (plasma)."""
    return (RECORDED_COLOUR, RECORDED_CMAP) if kind.real else (PREDICTED_COLOUR, PREDICTED_CMAP)


class CompareDialog(QtWidgets.QDialog):
    readings_ready = QtCore.Signal(list)  # every Reading of the study, as listed in the pickers
    computed = QtCore.Signal(dict)  # the chosen pair's metrics
    unavailable = QtCore.Signal(str)  # why the case could not be compared
    set_computed = QtCore.Signal(dict)  # the set's averages

    def __init__(self, window, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.win = window
        self.setWindowTitle("Compare readings: real and predicted gaze")
        self.resize(1500, 900)
        self.left = ImageView()
        self.right = ImageView()
        self.right.vb.setXLink(self.left.vb)
        self.right.vb.setYLink(self.left.vb)
        self.readings: list[Reading] = []
        # the left reading on the left view, the right reading on the right view and (overlaid) on the left
        self.left_layer = self.right_layer = self.right_on_left = None
        self._pair_token = 0
        self._shown = None  # the image in the views
        self._note = ""  # what could not be listed (no backend, no database), said with every result

        self.left_pick = QtWidgets.QComboBox()
        self.right_pick = QtWidgets.QComboBox()
        for pick in (self.left_pick, self.right_pick):
            pick.setSizeAdjustPolicy(
                QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            pick.setMinimumContentsLength(28)
            pick.currentIndexChanged.connect(self.show_pair)
        self.left_pick.setToolTip("The reference reading (left)")
        self.right_pick.setToolTip(
            "The reading compared with it (right): a predicted sample or another reader"
        )
        self.swap_btn = QtWidgets.QPushButton("Swap sides")
        self.swap_btn.setToolTip("The right-hand reading becomes the reference, and the other way round")
        self.swap_btn.clicked.connect(self.swap)
        self.overlay_box = QtWidgets.QCheckBox("Overlaid")
        self.overlay_box.toggled.connect(self.set_overlaid)
        self.legend = QtWidgets.QLabel("")
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(len(ROWS), 4)
        self.table.setHorizontalHeaderLabels(["Metric", "This pair", "Set: predicted", "Set: readers"])
        self.table.horizontalHeaderItem(2).setToolTip(
            "Predicted against the real readers, averaged over the set"
        )
        self.table.horizontalHeaderItem(3).setToolTip(
            "The readers against each other (studies with two or more readers): the human level"
        )
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        from ml.metrics import HIGHER_IS_BETTER

        for r, (name, key, _sub) in enumerate(ROWS):
            arrow = "↑" if HIGHER_IS_BETTER.get(key, False) else "↓"
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(f"{name} {arrow}"))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(540)
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.set_btn = QtWidgets.QPushButton("Compute for the set")
        self.set_btn.setToolTip(
            "Predict a scanpath for every study with real gaze, average the metrics against its readers"
            " and measure how far the predicted distributions are from the readers'"
        )
        self.set_btn.clicked.connect(self.compute_set)

        views = QtWidgets.QSplitter()
        self.titles: list[QtWidgets.QLabel] = []
        for view in (self.left, self.right):
            box = QtWidgets.QWidget()
            bl = QtWidgets.QVBoxLayout(box)
            bl.setContentsMargins(0, 0, 0, 0)
            lab = QtWidgets.QLabel("")
            lab.setTextFormat(QtCore.Qt.TextFormat.RichText)
            self.titles.append(lab)
            bl.addWidget(lab)
            bl.addWidget(view, 1)
            views.addWidget(box)
        self.right_box = views.widget(1)
        body = QtWidgets.QWidget()
        vl = QtWidgets.QVBoxLayout(body)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addWidget(views, 1)
        vl.addWidget(self.legend)
        side = QtWidgets.QWidget()
        sl = QtWidgets.QVBoxLayout(side)
        form = QtWidgets.QFormLayout()
        form.addRow("Left", self.left_pick)
        form.addRow("Right", self.right_pick)
        sl.addLayout(form)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.overlay_box)
        row.addStretch(1)
        row.addWidget(self.swap_btn)
        sl.addLayout(row)
        sl.addWidget(self.table, 1)
        sl.addWidget(self.set_btn)
        sl.addWidget(self.status)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(body, 1)
        lay.addWidget(side)
        self.metrics: dict[str, Any] | None = None
        self.set_metrics: dict[str, Any] | None = None
        session = getattr(window, "session", None)  # a session saved while the view is open joins the list
        if session is not None and hasattr(session, "session_saved"):
            session.session_saved.connect(self._session_saved)

    def _session_saved(self, *_args) -> None:
        if shiboken6.isValid(self) and self.isVisible():
            self.load()

    # ----------------------------------------------------------------- data
    def load(self) -> None:
        """Show the current study, gather its readings (database sessions, dataset readers, predicted
        samples from the backend) and compare the default pair."""
        win = self.win
        if win.image is None or win.current is None:
            self._unavailable("Open a study first")
            return
        study, image = win.current, win.image
        if self._shown is not image:  # a reload for the same image keeps the zoom and pan
            for v in (self.left, self.right):
                v.set_image(image, win.view.display, study.id)
            self._shown = image
        draft = win.draft
        draft_path = (
            draft.scanpath
            if draft and draft.scanpath and draft.scanpath.source == ScanpathSource.PREDICTED
            else None
        )
        got: dict[str, list] = {}
        notes: list[str] = []

        def arrived(key: str, value: list, note: str = "") -> None:
            if not shiboken6.isValid(self):  # closed before the store answered
                return
            got[key] = value
            if note:
                notes.append(note)
            if len(got) == 2:
                self.set_readings(
                    got["sessions"]
                    + dataset_readings(study)
                    + predicted_readings(got["predicted"], draft_path),
                    " ".join(notes),
                )

        self.status.setText("Gathering the study's readings…")
        win.store.call(
            lambda s: session_readings(s, study.id, image.size),
            lambda found: arrived("sessions", found),
            lambda exc: arrived("sessions", [], f"No recorded sessions: {workers.error_text(exc)}."),
        )
        client = win.backend.client()
        workers.submit(
            lambda: client.scanpaths(image, n=PREDICTED_SAMPLES, seed=0),
            lambda samples: arrived("predicted", samples),
            lambda exc: arrived("predicted", [], f"No predicted scanpaths: {workers.error_text(exc)}."),
            context=self,
        )

    def set_readings(self, readings: list[Reading], note: str = "") -> None:
        """Fill both pickers and compare the pair shown before when both are still there, else the
        default pair (the newest real reading against a prediction)."""
        before = [r.label for r in self.pair() or ()]
        self.readings = readings
        for pick in (self.left_pick, self.right_pick):
            pick.blockSignals(True)
            pick.clear()
            for i, r in enumerate(readings):
                pick.addItem(f"{r.label} · {len(r.scanpath)} fixations")
                pick.setItemData(i, pick.itemText(i), QtCore.Qt.ItemDataRole.ToolTipRole)
            pick.blockSignals(False)
        self.readings_ready.emit(readings)
        if not readings:
            self._unavailable(f"This study has no readings to compare: record a session. {note}".strip())
            return
        names = [r.label for r in readings]
        kept = all(label in names for label in before) and len(before) == 2
        left, right = (names.index(before[0]), names.index(before[1])) if kept else default_pair(readings)
        self._note = note
        self.pick(left, right)

    def pick(self, left: int, right: int) -> None:
        """Put reading ``left`` on the left and ``right`` on the right (indices into ``readings``)."""
        for combo, i in ((self.left_pick, left), (self.right_pick, right)):
            combo.blockSignals(True)
            combo.setCurrentIndex(i)
            combo.blockSignals(False)
        self.show_pair()

    def swap(self) -> None:
        self.pick(self.right_pick.currentIndex(), self.left_pick.currentIndex())

    def pair(self) -> tuple[Reading, Reading] | None:
        li, ri = self.left_pick.currentIndex(), self.right_pick.currentIndex()
        if not (0 <= li < len(self.readings) and 0 <= ri < len(self.readings)):
            return None
        return self.readings[li], self.readings[ri]

    def show_pair(self) -> None:
        """Draw the chosen pair, name it in the titles and the legend, and compute its metrics."""
        pair = self.pair()
        if pair is None:
            return
        a, b = pair
        left_style = reading_style(a.kind)
        right_style = reading_style(b.kind)
        if right_style == left_style:
            right_style = (SECOND_COLOUR, SECOND_CMAP)
        self.left_layer = self._replace(self.left_layer, a, left_style, self.left)
        self.right_layer = self._replace(self.right_layer, b, right_style, self.right)
        self.right_on_left = self._replace(self.right_on_left, b, right_style, self.left)
        self.right_on_left.setVisible(self.overlay_box.isChecked())
        self._set_titles()
        self.legend.setText(
            f"<span style='color:{left_style[0]}'>●</span> {a.label} (left) &nbsp;&nbsp; "
            f"<span style='color:{right_style[0]}'>●</span> {b.label} (right) &nbsp;&nbsp; "
            "<span style='color:gray'>numbers: fixation order · circle size: duration · shade: early to late</span>"
        )
        agreement = "Inter-reader agreement" if a.kind.real and b.kind.real else "Compared"
        self.status.setText(f"{agreement}: {b.label} against {a.label}…")
        self._pair_token += 1
        token, size = self._pair_token, self.win.image.size

        def done(metrics: dict[str, Any]) -> None:
            if token == self._pair_token:
                self._show_case(metrics, f"{agreement}: {b.label} against {a.label}. {self._note}".strip())

        workers.submit(lambda: compare_pair(b.scanpath, a.scanpath, size), done, self._error, context=self)

    @staticmethod
    def _replace(
        old: ReadingLayer | None, reading: Reading, style: tuple[str, str], view: ImageView
    ) -> ReadingLayer:
        if old is not None:
            old.setParentItem(None)
            if old.scene() is not None:
                old.scene().removeItem(old)
        layer = ReadingLayer(reading.label, style[0], style[1], numbered=True)
        layer.setParentItem(view.root)
        layer.set_scanpaths([reading.scanpath])
        return layer

    def _show_case(self, metrics: dict[str, Any], what: str) -> None:
        self.metrics = metrics
        self._fill(1, metrics)
        self.status.setText(what)
        self.computed.emit(metrics)

    def _error(self, exc: BaseException) -> None:
        self._unavailable(workers.error_text(exc))

    def _unavailable(self, message: str) -> None:
        self.status.setText(message)
        self.unavailable.emit(message)

    def compute_set(self) -> None:
        """Every study of the worklist with real gaze (its database sessions and dataset readers):
        predict a path for it on the backend and compare (``compare_set``)."""
        studies = list(self.win.studies)
        uids = [s.id for s in studies]
        self.set_btn.setEnabled(False)
        self.status.setText("Gathering the worklist's readings…")

        def sessions(store) -> dict[str, list[Scanpath]]:  # sized once each image is loaded
            return {uid: [r.scanpath for r in session_readings(store, uid, (0, 0))] for uid in uids}

        self.win.store.call(sessions, lambda found: self._predict_set(studies, found), self._set_failed)

    def _predict_set(self, studies: list, sessions: dict[str, list[Scanpath]]) -> None:
        if not shiboken6.isValid(self):
            return
        real_of = {s.id: sessions.get(s.id, []) + [r.scanpath for r in dataset_readings(s)] for s in studies}
        studies = [s for s in studies if real_of[s.id]]
        if not studies:
            self.set_btn.setEnabled(True)
            self.status.setText("No study in the worklist has real gaze: record a session")
            return
        client = self.win.backend.client()
        self.status.setText(f"Predicting and comparing {len(studies)} studies…")

        def run():
            import dataclasses

            from ml.imaging import load_image

            per_case = []
            for s in studies:
                image = load_image(s.image_path)
                real = [dataclasses.replace(sp, image_size=image.size) for sp in real_of[s.id]]
                per_case.append((client.scanpaths(image, n=1)[0], real, image.size))
            return compare_set(per_case)

        def done(avg):
            self.set_btn.setEnabled(True)
            self.set_metrics = avg
            self._fill(2, avg)
            self._fill(3, avg["readers"])
            self.status.setText(
                f"Set average over {avg['n']} studies: predicted against their real readers;"
                f" readers against each other on {avg['readers']['n']} with two or more"
            )
            self.set_computed.emit(avg)

        workers.submit(run, done, self._set_failed, context=self)

    def _set_failed(self, exc: BaseException) -> None:
        if shiboken6.isValid(self):
            self.set_btn.setEnabled(True)
            self._error(exc)

    def _fill(self, column: int, metrics: dict[str, Any]) -> None:
        for r, (_name, key, sub) in enumerate(ROWS):
            v = metric_value(metrics, key, sub)
            self.table.setItem(r, column, QtWidgets.QTableWidgetItem(number(v)))

    def set_overlaid(self, on: bool) -> None:
        self.right_box.setVisible(not on)
        if self.right_on_left is not None:
            self.right_on_left.setVisible(on)
        self._set_titles()

    def _set_titles(self) -> None:
        """Each pane names its reading; overlaid, the left pane names both."""
        if self.left_layer is None or self.right_layer is None:
            return

        def named(layer: ReadingLayer, side: str) -> str:
            return f"<span style='color:{layer.colour}'>●</span> {side}: {layer.name}"

        left, right = named(self.left_layer, "Left"), named(self.right_layer, "Right")
        self.titles[0].setText(
            f"<b>{left} &nbsp;&nbsp; {right}</b>" if self.overlay_box.isChecked() else f"<b>{left}</b>"
        )
        self.titles[1].setText(f"<b>{right}</b>")
