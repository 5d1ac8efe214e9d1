"""Overlays drawn over the radiograph, all in image pixels (children of ``ImageView.root``).

- ``ScanpathLayer``: numbered fixations sized by duration, saccade lines, colour by time; shows
  the fixations up to a time ``t`` so a timeline slider can replay the reading.
- ``HeatmapLayer``: a smoothed density (fixation heat map, or attention-weighted) as an RGBA image
  whose alpha follows the density, so the radiograph stays readable underneath.
- ``AttentionLayer``: the GNN's node attention as coloured markers (+ its heat map).
- ``FindingsLayer``: ground-truth findings (cohort ellipses/boxes, REFLACX ellipses) with labels.
Each layer has a name, a colour for the legend, a visibility flag and an opacity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ml.types import Finding, Scanpath

#: Colour maps and legend colours per layer kind.
RECORDED_CMAP = "viridis"
PREDICTED_CMAP = "plasma"
RECORDED_COLOUR = "#35b779"
PREDICTED_COLOUR = "#f89540"
ATTENTION_COLOUR = "#e8453c"
FINDINGS_COLOUR = "#4fc3f7"
HEAT_CMAP = "inferno"


#: Nine anchors of matplotlib's perceptually uniform maps (from pyqtgraph's tables): interpolating
#: them avoids reading colour-map files from disk on the GUI thread.
_ANCHORS = {
    "viridis": [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 140),
        (39, 173, 128),
        (92, 200, 98),
        (170, 220, 49),
        (253, 231, 37),
    ],
    "plasma": [
        (13, 8, 135),
        (75, 2, 161),
        (125, 3, 168),
        (169, 34, 149),
        (203, 70, 120),
        (229, 107, 92),
        (248, 148, 64),
        (253, 195, 39),
        (240, 249, 33),
    ],
    "inferno": [
        (0, 0, 4),
        (32, 12, 73),
        (86, 15, 109),
        (137, 34, 106),
        (187, 54, 84),
        (227, 89, 50),
        (249, 140, 9),
        (249, 201, 50),
        (252, 255, 164),
    ],
    "magma": [
        (0, 0, 4),
        (28, 16, 70),
        (80, 18, 123),
        (130, 37, 129),
        (182, 54, 121),
        (229, 80, 99),
        (251, 135, 97),
        (254, 194, 135),
        (252, 253, 191),
    ],
}
_LUTS: dict[tuple[str, int], np.ndarray] = {}


def _lut(name: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colour table."""
    key = (name, n)
    if key not in _LUTS:
        anchors = np.array(_ANCHORS[name], dtype=np.float64)
        xs = np.linspace(0.0, 1.0, len(anchors))
        t = np.linspace(0.0, 1.0, n)
        _LUTS[key] = (
            np.stack([np.interp(t, xs, anchors[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)
        )
    return _LUTS[key]


class Layer(pg.ItemGroup):
    """Base: a named group with a legend colour; ``set_visible``/``setOpacity`` come from Qt."""

    def __init__(self, name: str, colour: str, key: str = "") -> None:
        super().__init__()
        self.name = name
        self.colour = colour
        self.key = key
        self.has_data = False

    def legend_html(self) -> str:
        return f"<span style='color:{self.colour}'>■</span> {self.name}"


class ScanpathLayer(Layer):
    """One or more scanpaths; the first is drawn fully styled, extra samples as thin paths."""

    def __init__(self, name: str, colour: str, cmap: str, key: str = "", numbered: bool = True) -> None:
        super().__init__(name, colour, key)
        self.cmap = cmap
        self.numbered = numbered
        line_colour = pg.mkColor(colour)
        line_colour.setAlpha(150)
        self.lines = pg.PlotCurveItem(pen=pg.mkPen(line_colour, width=1.5))
        self.lines.setParentItem(self)
        self.extra = pg.PlotCurveItem(
            pen=pg.mkPen(colour, width=1, style=QtCore.Qt.PenStyle.DashLine), connect="finite"
        )
        self.extra.setParentItem(self)
        self.extra.setOpacity(0.6)
        self.scatter = pg.ScatterPlotItem(pxMode=False)
        self.scatter.setParentItem(self)
        self.labels: list[pg.TextItem] = []
        self.scanpath: Scanpath | None = None
        self.t = float("inf")

    def set_scanpaths(self, scanpaths: Sequence[Scanpath]) -> None:
        self.scanpath = scanpaths[0] if scanpaths else None
        xs, ys = [], []
        for sp in scanpaths[1:]:
            arr = sp.as_array()
            xs.extend(list(arr[:, 0]) + [np.nan])
            ys.extend(list(arr[:, 1]) + [np.nan])
        if xs:
            self.extra.setData(np.array(xs), np.array(ys))
        else:
            self.extra.clear()
        self.has_data = self.scanpath is not None and len(self.scanpath) > 0
        self._rebuild_labels()
        self.set_time(float("inf"))

    @property
    def duration(self) -> float:
        if not self.scanpath or not self.scanpath.fixations:
            return 0.0
        return float(self.scanpath.fixations[-1].end)

    def _rebuild_labels(self) -> None:
        for lab in self.labels:
            lab.setParentItem(None)
            if lab.scene() is not None:
                lab.scene().removeItem(lab)
        self.labels = []
        if not self.numbered or self.scanpath is None:
            return
        for i, f in enumerate(self.scanpath.fixations[:99]):
            lab = pg.TextItem(str(i + 1), color=(255, 255, 255), anchor=(0.5, 0.5))
            lab.setFont(QtGui.QFont("DejaVu Sans", 8, QtGui.QFont.Weight.Bold))
            lab.setPos(f.x, f.y)
            lab.setParentItem(self)
            self.labels.append(lab)

    def set_time(self, t: float) -> None:
        """Show the fixations that started at or before ``t`` seconds."""
        self.t = t
        sp = self.scanpath
        if sp is None or not sp.fixations:
            self.lines.clear()
            self.scatter.clear()
            return
        fx = [f for f in sp.fixations if f.start <= t]
        if not fx:
            self.lines.clear()
            self.scatter.clear()
        else:
            x = np.array([f.x for f in fx])
            y = np.array([f.y for f in fx])
            d = np.array([max(f.duration, 0.01) for f in fx])
            w, h = sp.image_size if all(sp.image_size) else (1024, 1024)
            base = max(min(w, h), 1) / 45.0
            sizes = base * np.sqrt(d / 0.25).clip(0.5, 3.0)
            total = max(self.duration, 1e-6)
            lut = _lut(self.cmap)
            idx = (np.array([f.start for f in fx]) / total * 255).clip(0, 255).astype(int)
            brushes = [pg.mkBrush(*lut[i], 190) for i in idx]
            self.lines.setData(x, y)
            self.scatter.setData(
                x=x, y=y, size=sizes, brush=brushes, pen=pg.mkPen(255, 255, 255, 200, width=max(base / 10, 1))
            )
        for i, lab in enumerate(self.labels):
            lab.setVisible(i < len(fx))


class HeatmapLayer(Layer):
    """A Gaussian-smoothed density over the image (computed on a coarse grid, then stretched)."""

    def __init__(self, name: str, colour: str, key: str = "", cmap: str = HEAT_CMAP) -> None:
        super().__init__(name, colour, key)
        self.item = pg.ImageItem()
        self.item.setParentItem(self)
        self.cmap = cmap
        self.density: np.ndarray | None = None

    def set_points(
        self,
        xy: np.ndarray,
        weights: np.ndarray | None,
        image_size: tuple[int, int],
        sigma_px: float | None = None,
    ) -> None:
        w, h = image_size
        if len(xy) == 0 or w <= 0 or h <= 0:
            self.item.clear()
            self.density = None
            self.has_data = False
            return
        self.density = density_map(xy, weights, image_size, sigma_px)
        lut = _lut(self.cmap)
        norm = self.density / max(float(self.density.max()), 1e-12)
        rgba = np.empty(norm.shape + (4,), dtype=np.uint8)
        rgba[..., :3] = lut[(norm * 255).astype(int)]
        rgba[..., 3] = (np.sqrt(norm) * 200).astype(np.uint8)
        self.item.setImage(rgba, levels=(0, 255))
        self.item.setRect(QtCore.QRectF(0, 0, w, h))
        self.has_data = True


def density_map(
    xy: np.ndarray,
    weights: np.ndarray | None,
    image_size: tuple[int, int],
    sigma_px: float | None = None,
    grid: int = 160,
) -> np.ndarray:
    """A normalised density on a coarse grid (rows, cols) from points in image pixels.

    ``sigma_px`` defaults to 1/25 of the image width: about 1° of visual angle for a chest film
    read at a usual distance, the foveal size that fixation heat maps conventionally use.
    """
    w, h = image_size
    gw = grid
    gh = max(int(round(grid * h / w)), 1)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    wts = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype=np.float64)
    hist, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=(gh, gw), range=((0, h), (0, w)), weights=wts)
    sigma = (sigma_px or w / 25.0) * gw / w
    dens = _blur(hist, sigma)
    total = dens.sum()
    return dens / total if total > 0 else dens


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (zero padding) in numpy: the grid is small, and importing scipy on
    the GUI thread the first time costs more than the blur itself."""
    radius = max(int(3 * sigma + 0.5), 1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / max(sigma, 1e-6)) ** 2)
    k /= k.sum()
    a = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, a)
    return np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, a)


class AttentionLayer(Layer):
    """GNN node attention: markers coloured and sized by weight, plus an attention heat map."""

    def __init__(self, name: str, colour: str, key: str = "") -> None:
        super().__init__(name, colour, key)
        self.heat = HeatmapLayer("attention heat", colour, cmap="magma")
        self.heat.setParentItem(self)
        self.scatter = pg.ScatterPlotItem(pxMode=False)
        self.scatter.setParentItem(self)
        self.weights: np.ndarray = np.zeros(0)
        self.scanpath: Scanpath | None = None

    def set_attention(self, scanpath: Scanpath | None, attention: Sequence[float]) -> None:
        self.scanpath = scanpath
        if scanpath is None or not scanpath.fixations or len(attention) != len(scanpath.fixations):
            self.scatter.clear()
            self.heat.set_points(np.zeros((0, 2)), None, (0, 0))
            self.has_data = False
            return
        a = np.asarray(attention, dtype=np.float64)
        self.weights = a
        xy = scanpath.as_array()[:, :2]
        norm = a / max(float(a.max()), 1e-12)
        lut = _lut("magma")
        w, h = scanpath.image_size
        base = max(min(w, h), 1) / 30.0
        brushes = [pg.mkBrush(*lut[int(40 + v * 215)], 230) for v in norm]
        self.scatter.setData(
            x=xy[:, 0],
            y=xy[:, 1],
            size=base * (0.4 + 1.2 * np.sqrt(norm)),
            brush=brushes,
            pen=pg.mkPen(ATTENTION_COLOUR, width=max(base / 12, 1)),
            symbol="d",
        )
        self.heat.set_points(xy, a, scanpath.image_size)
        self.has_data = True

    def top_nodes(self, k: int = 3) -> list[int]:
        return [int(i) for i in np.argsort(-self.weights)[:k]] if len(self.weights) else []

    def highlight(self, indices: Sequence[int]) -> None:
        """Outline the given nodes (a clicked finding chip shows where the model attended)."""
        if self.scanpath is None:
            return
        pts = self.scatter.points()
        for i, p in enumerate(pts):
            p.setPen(pg.mkPen("#ffffff", width=4) if i in indices else pg.mkPen(ATTENTION_COLOUR, width=1))


class FindingsLayer(Layer):
    """Ground-truth or drawn findings: ellipses, boxes, polygons and points with their labels."""

    def __init__(self, name: str, colour: str, key: str = "") -> None:
        super().__init__(name, colour, key)
        self.items: list[QtWidgets.QGraphicsItem] = []

    def set_findings(self, findings: Sequence[Finding]) -> None:
        for it in self.items:
            it.setParentItem(None)
            if it.scene() is not None:
                it.scene().removeItem(it)
        self.items = []
        pen = QtGui.QPen(QtGui.QColor(self.colour), 0)
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        for f in findings:
            rect = QtCore.QRectF(QtCore.QPointF(f.x0, f.y0), QtCore.QPointF(f.x1, f.y1)).normalized()
            if f.shape == "box":
                item: QtWidgets.QGraphicsItem = QtWidgets.QGraphicsRectItem(rect)
            elif f.shape == "polygon" and f.points:
                item = QtWidgets.QGraphicsPolygonItem(
                    QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in f.points])
                )
            elif f.shape == "point":
                r = max(rect.width(), rect.height(), 8.0)
                c = rect.center()
                item = QtWidgets.QGraphicsEllipseItem(QtCore.QRectF(c.x() - r / 2, c.y() - r / 2, r, r))
            else:
                item = QtWidgets.QGraphicsEllipseItem(rect)
            item.setPen(pen)
            item.setParentItem(self)
            self.items.append(item)
            text = pg.TextItem(f"{f.label} ({f.certainty})", color=self.colour, anchor=(0, 1))
            text.setPos(rect.left(), rect.top())
            text.setParentItem(self)
            self.items.append(text)
        self.has_data = bool(findings)


def legend_html(layers: Sequence[Layer]) -> str:
    rows = [lay.legend_html() for lay in layers if lay.has_data and lay.isVisible()]
    return "<br>".join(rows)
