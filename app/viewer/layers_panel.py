"""The overlay controller: creates the layers on an ``ImageView``, a panel with a checkbox, key and
opacity slider per layer, the legend, and the timeline (slider + play) that replays the recorded scanpath."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.viewer.image_view import ImageView
from app.viewer.overlays import (
    ATTENTION_COLOUR,
    FINDINGS_COLOUR,
    PREDICTED_CMAP,
    PREDICTED_COLOUR,
    RECORDED_CMAP,
    RECORDED_COLOUR,
    AttentionLayer,
    FindingsLayer,
    HeatmapLayer,
    Layer,
    ScanpathLayer,
    legend_html,
)
from ml.contracts import Draft
from ml.types import ScanpathSource

#: key -> default visibility: a calm first look (the predicted path and the findings, not every
#: reader's numbered fixations); the reader's own choice then persists in the settings
DEFAULTS = {"recorded": False, "predicted": True, "attention": False, "heatmap": False, "findings": True}


class LayersPanel(QtWidgets.QWidget):
    """Owns the layers of one view and the panel that controls them."""

    changed = QtCore.Signal()

    def __init__(
        self, view: ImageView, visible: dict[str, bool] | None = None, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.view = view
        shown = {**DEFAULTS, **{k: bool(v) for k, v in (visible or {}).items() if k in DEFAULTS}}
        self.layers: dict[str, Layer] = {
            "recorded": ScanpathLayer("Recorded gaze (colour = time)", RECORDED_COLOUR, RECORDED_CMAP, "1"),
            "predicted": ScanpathLayer("Predicted gaze", PREDICTED_COLOUR, PREDICTED_CMAP, "2"),
            "attention": AttentionLayer("GNN attention", ATTENTION_COLOUR, "3"),
            "heatmap": HeatmapLayer("Fixation heat map", "#fcae1e", "4"),
            "findings": FindingsLayer("Ground-truth findings", FINDINGS_COLOUR, "5"),
        }
        z = {"heatmap": 1, "attention": 2, "findings": 3, "predicted": 4, "recorded": 5}
        for key, layer in self.layers.items():
            layer.setParentItem(view.root)
            layer.setZValue(z[key])
            layer.setVisible(shown[key])
        self.layers["predicted"].setOpacity(0.85)
        self.layers["heatmap"].setOpacity(0.8)

        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(8)
        self.checks: dict[str, QtWidgets.QCheckBox] = {}
        self.sliders: dict[str, QtWidgets.QSlider] = {}
        for row, (key, layer) in enumerate(self.layers.items()):
            swatch = QtWidgets.QLabel(f"<span style='color:{layer.colour}; font-size:14pt'>■</span>")
            cb = QtWidgets.QCheckBox(f"{layer.name}")
            cb.setChecked(layer.isVisible())
            cb.setToolTip(f"Toggle with key {layer.key}")
            cb.toggled.connect(lambda on, k=key: self.set_visible(k, on))
            keylab = QtWidgets.QLabel(layer.key)
            keylab.setObjectName("muted")
            sl = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
            sl.setRange(0, 100)
            sl.setValue(int(layer.opacity() * 100))
            sl.setFixedWidth(90)
            sl.setToolTip("Opacity")
            sl.valueChanged.connect(lambda v, k=key: self.set_opacity(k, v / 100.0))
            grid.addWidget(swatch, row, 0)
            grid.addWidget(cb, row, 1)
            grid.addWidget(keylab, row, 2)
            grid.addWidget(sl, row, 3)
            self.checks[key] = cb
            self.sliders[key] = sl

        # timeline for the recorded scanpath
        row = len(self.layers)
        self.play_btn = QtWidgets.QPushButton("▶")
        self.play_btn.setFixedWidth(36)
        self.play_btn.setToolTip("Replay the recorded scanpath (K)")
        self.play_btn.clicked.connect(self.toggle_play)
        self.timeline = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 1000)
        self.timeline.setValue(1000)
        self.timeline.valueChanged.connect(self._on_timeline)
        self.time_label = QtWidgets.QLabel("–")
        self.time_label.setObjectName("muted")
        self.time_label.setFixedWidth(90)
        grid.addWidget(self.play_btn, row, 0)
        grid.addWidget(self.timeline, row, 1, 1, 2)
        grid.addWidget(self.time_label, row, 3)
        self.sample_btn = QtWidgets.QPushButton("Sample 3 predicted scanpaths")
        self.sample_btn.setToolTip("Ask the model for several plausible scanpaths (needs a trained bundle)")
        grid.addWidget(self.sample_btn, row + 1, 0, 1, 4)
        grid.setRowStretch(row + 2, 1)
        self._play = QtCore.QTimer(self)
        self._play.setInterval(40)
        self._play.timeout.connect(self._tick)
        self._play_t = 0.0
        self._update_legend()

    # ----------------------------------------------------------------- control
    def set_visible(self, key: str, on: bool) -> None:
        self.layers[key].setVisible(on)
        if self.checks[key].isChecked() != on:
            self.checks[key].setChecked(on)
        self._update_legend()
        self.changed.emit()

    def show_draft(self, draft: Draft | None) -> None:
        """A draft's gaze: its predicted scanpath (a recorded one is already the recorded layer) and
        the model's attention over it; cleared for no draft."""
        self.set_predicted([])
        self.set_attention(None, [])
        if draft is None or draft.scanpath is None or not len(draft.scanpath):
            return
        if draft.scanpath.source == ScanpathSource.PREDICTED:
            self.set_predicted([draft.scanpath])
        self.set_attention(draft.scanpath, draft.attention)

    def show_predictions(self, paths: list) -> str:
        """Sampled predicted scanpaths as the predicted layer; says what it showed."""
        self.set_predicted(paths)
        self.set_visible("predicted", True)
        return f"{len(paths)} predicted scanpaths"

    def show_attention(self, observation: str) -> str:
        """Show where the model attended (the attention layer with its top nodes); says what it showed."""
        layer = self.layers["attention"]
        if not layer.has_data:
            return "No attention for this draft (the model gave none)"
        self.set_visible("attention", True)
        top = layer.top_nodes(3)  # type: ignore[attr-defined]
        layer.highlight(top)  # type: ignore[attr-defined]
        return f"{observation}: the draft's most attended fixations are #{', #'.join(str(i + 1) for i in top)}"

    def visibility(self) -> dict[str, bool]:
        return {key: layer.isVisible() for key, layer in self.layers.items()}

    def toggle(self, key: str) -> None:
        self.set_visible(key, not self.layers[key].isVisible())

    def set_opacity(self, key: str, value: float) -> None:
        self.layers[key].setOpacity(value)
        if self.sliders[key].value() != int(value * 100):
            self.sliders[key].setValue(int(value * 100))

    def shortcuts(self, owner: QtWidgets.QMainWindow, menu: QtWidgets.QMenu | None = None) -> list[QtGui.QAction]:
        """One window action per layer toggle, and K for playback (in ``menu`` when given)."""
        from app.actions import command

        acts = [
            command(owner, f"Toggle {layer.name}", lambda k=key: self.toggle(k), layer.key, menu=menu)
            for key, layer in self.layers.items()
        ]
        acts.append(command(owner, "Play / pause the recorded scanpath", self.toggle_play, "K", menu=menu))
        return acts

    # ----------------------------------------------------------------- data
    def clear(self) -> None:
        self.layers["recorded"].set_scanpaths([])  # type: ignore[attr-defined]
        self.layers["predicted"].set_scanpaths([])  # type: ignore[attr-defined]
        self.layers["attention"].set_attention(None, [])  # type: ignore[attr-defined]
        self.layers["heatmap"].set_points([], None, (0, 0))  # type: ignore[attr-defined]
        self.layers["findings"].set_findings([])  # type: ignore[attr-defined]
        self._update_legend()

    def set_recorded(self, scanpaths) -> None:
        import numpy as np

        rec = self.layers["recorded"]
        rec.set_scanpaths(list(scanpaths))  # type: ignore[attr-defined]
        first = scanpaths[0] if scanpaths else None
        simulated = first is not None and first.source.value == "simulated"
        rec.name = (
            "Dataset reader's gaze (simulated; colour = time)"
            if simulated
            else "Recorded gaze (colour = time)"
        )
        self.checks["recorded"].setText("Real gaze" + (" (dataset reader)" if simulated else " (recorded)"))
        heat = self.layers["heatmap"]
        if scanpaths:
            arr = np.concatenate([sp.as_array() for sp in scanpaths if len(sp)] or [np.zeros((0, 3))])
            heat.set_points(arr[:, :2], arr[:, 2], scanpaths[0].image_size)  # type: ignore[attr-defined]
        else:
            heat.set_points(np.zeros((0, 2)), None, (0, 0))  # type: ignore[attr-defined]
        self.timeline.setValue(1000)
        self._on_timeline(1000)
        self._update_legend()

    def set_predicted(self, scanpaths) -> None:
        self.layers["predicted"].set_scanpaths(list(scanpaths))  # type: ignore[attr-defined]
        self._update_legend()

    def set_attention(self, scanpath, attention) -> None:
        self.layers["attention"].set_attention(scanpath, attention)  # type: ignore[attr-defined]
        self._update_legend()

    def set_findings(self, findings) -> None:
        self.layers["findings"].set_findings(list(findings))  # type: ignore[attr-defined]
        self._update_legend()

    # ----------------------------------------------------------------- timeline
    def _recorded(self) -> ScanpathLayer:
        return self.layers["recorded"]  # type: ignore[return-value]

    def _on_timeline(self, value: int) -> None:
        rec = self._recorded()
        total = rec.duration
        t = total * value / 1000.0 if value < 1000 else float("inf")
        rec.set_time(t)
        self.time_label.setText(f"{min(t, total):.1f} / {total:.1f} s" if total else "–")

    def toggle_play(self) -> None:
        if self._play.isActive():
            self._play.stop()
            self.play_btn.setText("▶")
            return
        if self._recorded().duration <= 0:
            return
        self.set_visible("recorded", True)
        self._play_t = (
            0.0 if self.timeline.value() >= 1000 else self._recorded().duration * self.timeline.value() / 1000
        )
        self.play_btn.setText("❚❚")
        self._play.start()

    def _tick(self) -> None:
        total = self._recorded().duration
        self._play_t += self._play.interval() / 1000.0
        if self._play_t >= total:
            self._play.stop()
            self.play_btn.setText("▶")
            self.timeline.setValue(1000)
            return
        self.timeline.setValue(int(self._play_t / total * 1000))

    # ----------------------------------------------------------------- legend
    def _update_legend(self) -> None:
        html = legend_html(list(self.layers.values()))
        self.view.set_legend(html)
