"""DrawnFinding tools: draw ellipse / box / polygon / point findings on the image, edit, undo/redo.

Each annotation is an ``ml.types.Finding`` (image pixels) shown as a pyqtgraph ROI under the
view's ``root`` (so rotate/flip keep it on the anatomy), movable and resizable. Every change goes
through a ``QUndoStack`` command and is mirrored to the database (``Store.add/update/delete_annotation``
on the store thread), so undo/redo and persistence never disagree. Annotations can be linked to
the report sentence that describes them: selecting one highlights the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app import workers
from ml.types import CHEXPERT_OBSERVATIONS, AnnotationShape, Finding

CERTAINTY = {
    1: "1 unlikely",
    2: "2 less likely",
    3: "3 possibly",
    4: "4 suggestive of",
    5: "5 consistent with",
}
COLOUR = "#ffd54f"
SELECTED = "#ff6e40"
POINTER = "pointer"  # the tool that draws nothing (pan and select)
TOOLS = (POINTER, *AnnotationShape.values())


@dataclasses.dataclass
class DrawnFinding:
    finding: Finding
    sentence: str = ""
    db_id: int | None = None
    roi: pg.ROI | None = None


def finding_from_roi(roi: pg.ROI, base: Finding) -> Finding:
    """The ROI's current geometry as a Finding (label and certainty kept)."""
    if isinstance(roi, pg.PolyLineROI):
        pts = [roi.mapToParent(h["item"].pos()) for h in roi.handles]
        xy = [(float(p.x()), float(p.y())) for p in pts]
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        return dataclasses.replace(base, x0=min(xs), y0=min(ys), x1=max(xs), y1=max(ys), points=xy)
    pos, size = roi.pos(), roi.size()
    if base.shape == AnnotationShape.POINT:
        cx, cy = pos.x() + size.x() / 2, pos.y() + size.y() / 2
        return dataclasses.replace(base, x0=cx, y0=cy, x1=cx, y1=cy)
    x0, y0 = float(pos.x()), float(pos.y())
    return dataclasses.replace(base, x0=x0, y0=y0, x1=x0 + float(size.x()), y1=y0 + float(size.y()))


def size_mm(f: Finding, spacing: tuple[float, float] | None) -> str:
    """' 24 × 18 mm' (width × height) for a drawn region when the pixel spacing is known, else ''."""
    if spacing is None or f.shape == AnnotationShape.POINT:
        return ""
    row_mm, col_mm = spacing
    return f" {abs(f.x1 - f.x0) * col_mm:.0f} × {abs(f.y1 - f.y0) * row_mm:.0f} mm"


def roi_for(f: Finding, point_radius: float) -> pg.ROI:
    pen = pg.mkPen(COLOUR, width=2)
    hover = pg.mkPen(SELECTED, width=2)
    if f.shape == AnnotationShape.POLYGON and f.points:
        roi: pg.ROI = pg.PolyLineROI(f.points, closed=True, pen=pen, hoverPen=hover)
    elif f.shape == AnnotationShape.POINT:
        r = point_radius
        roi = pg.CircleROI((f.x0 - r, f.y0 - r), (2 * r, 2 * r), pen=pen, hoverPen=hover, resizable=False)
        for h in list(roi.handles):
            roi.removeHandle(h["item"])
    elif f.shape == AnnotationShape.BOX:
        roi = pg.RectROI((f.x0, f.y0), (max(f.x1 - f.x0, 1), max(f.y1 - f.y0, 1)), pen=pen, hoverPen=hover)
    else:
        roi = pg.EllipseROI((f.x0, f.y0), (max(f.x1 - f.x0, 1), max(f.y1 - f.y0, 1)), pen=pen, hoverPen=hover)
    return roi


class _Cmd(QtGui.QUndoCommand):
    def __init__(self, text: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        super().__init__(text)
        self._do, self._undo = do, undo

    def redo(self) -> None:
        self._do()

    def undo(self) -> None:
        self._undo()


class AnnotationController(QtCore.QObject):
    """Owns the annotations of the current study on one ImageView and their undo stack."""

    changed = QtCore.Signal()
    selected = QtCore.Signal(DrawnFinding)
    deselected = QtCore.Signal()
    store_failed = QtCore.Signal(str)  # an annotation could not be read or written

    def __init__(self, view, store=None, reader: str = "", parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.store = store  # app.storage.StoreWorker (None: not persisted)
        self.reader = reader
        self.study_id = ""
        self.items: list[DrawnFinding] = []
        self.current: DrawnFinding | None = None
        self.undo = QtGui.QUndoStack(self)
        self.tool = POINTER
        self.label = "Lung Opacity"
        self.certainty = 4
        self._drag_start: QtCore.QPointF | None = None
        self._preview: QtWidgets.QGraphicsItem | None = None
        self._poly: list[tuple[float, float]] = []
        view.vb.left_drag_handler = self._on_drag
        view.vb.left_click_handler = self._on_click

    # ----------------------------------------------------------------- study
    def spacing(self) -> tuple[float, float] | None:
        """The open image's (row, column) pixel spacing in mm, when it has one."""
        image = self.view.image
        return tuple(image.spacing) if image is not None and image.spacing else None  # type: ignore[return-value]

    def load(self, study_id: str, annotations: list[DrawnFinding]) -> None:
        for a in self.items:
            self._detach(a)
        self.items, self.current = [], None
        self.undo.clear()
        self.study_id = study_id
        for a in annotations:
            self._attach(a)
            self.items.append(a)
        self.changed.emit()

    def open_study(self, study_id: str, image_path: str) -> None:
        """Show the reader's stored annotations of a study (cleared at once, filled from the store)."""
        self.load(study_id, [])
        if self.store is None:
            return
        reader = self.reader

        def done(rows) -> None:
            if self.study_id == study_id:
                self.load(study_id, [DrawnFinding(r.finding, r.sentence, r.id) for r in rows])

        self.store.call(lambda s: s.annotations(s.add_study(study_id, image_path), reader=reader), done, self._failed)

    def findings(self) -> list[Finding]:
        return [a.finding for a in self.items]

    # ----------------------------------------------------------------- tools
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.finish_polygon()
        self.tool = tool

    def _image_pos(self, scene_pos) -> QtCore.QPointF:
        return self.view.root.mapFromScene(scene_pos)

    def _on_drag(self, ev) -> bool:
        if self.tool not in (AnnotationShape.ELLIPSE, AnnotationShape.BOX) or self.view.image is None:
            return False
        ev.accept()
        p = self._image_pos(ev.scenePos())
        if ev.isStart():
            self._drag_start = self._image_pos(ev.buttonDownScenePos())
            self._show_preview(
                QtWidgets.QGraphicsEllipseItem() if self.tool == AnnotationShape.ELLIPSE else QtWidgets.QGraphicsRectItem()
            )
        if self._drag_start is None:
            return True
        rect = QtCore.QRectF(self._drag_start, p).normalized()
        if self._preview is not None:
            self._preview.setRect(rect)
        if ev.isFinish():
            self._clear_preview()
            self._drag_start = None
            if rect.width() >= 2 and rect.height() >= 2:
                self.add(
                    Finding(
                        self.label,
                        rect.left(),
                        rect.top(),
                        rect.right(),
                        rect.bottom(),
                        self.tool,
                        self.certainty,
                    )
                )
        return True

    def _on_click(self, ev) -> bool:
        if self.view.image is None or self.tool not in (AnnotationShape.POINT, AnnotationShape.POLYGON):
            return False
        ev.accept()
        p = self._image_pos(ev.scenePos())
        if self.tool == AnnotationShape.POINT:
            self.add(Finding(self.label, p.x(), p.y(), p.x(), p.y(), AnnotationShape.POINT, self.certainty))
        else:
            if ev.double():
                self.finish_polygon()
                return True
            self._poly.append((p.x(), p.y()))
            self._draw_poly_preview()
        return True

    def add_polygon_vertex(self, x: float, y: float) -> None:
        """Programmatic vertex (tests, keyboard); Enter or ``finish_polygon`` closes it."""
        self._poly.append((float(x), float(y)))
        self._draw_poly_preview()

    def finish_polygon(self) -> None:
        pts, self._poly = self._poly, []
        self._clear_preview()
        if len(pts) >= 3:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            self.add(Finding(self.label, min(xs), min(ys), max(xs), max(ys), AnnotationShape.POLYGON, self.certainty, pts))

    def _draw_poly_preview(self) -> None:
        self._clear_preview()
        path = QtGui.QPainterPath()
        path.moveTo(*self._poly[0])
        for x, y in self._poly[1:]:
            path.lineTo(x, y)
        self._show_preview(QtWidgets.QGraphicsPathItem(path))

    def _show_preview(self, item: QtWidgets.QAbstractGraphicsShapeItem) -> None:
        """A dashed outline of the shape being drawn, on the image."""
        pen = QtGui.QPen(QtGui.QColor(COLOUR))
        pen.setCosmetic(True)
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        item.setPen(pen)
        item.setParentItem(self.view.root)
        self._preview = item

    def _clear_preview(self) -> None:
        if self._preview is not None:
            self._preview.setParentItem(None)
            if self._preview.scene() is not None:
                self._preview.scene().removeItem(self._preview)
            self._preview = None

    # ----------------------------------------------------------------- commands
    def add(self, finding: Finding, sentence: str = "") -> DrawnFinding:
        ann = DrawnFinding(finding, sentence)

        def do():
            self._attach(ann)
            self.items.append(ann)
            self._persist_add(ann)
            self.select(ann)
            self.changed.emit()

        def undo():
            self._remove(ann)

        self.undo.push(_Cmd(f"add {finding.shape}", do, undo))
        return ann

    def delete(self, ann: DrawnFinding | None = None) -> None:
        ann = ann or self.current
        if ann is None or ann not in self.items:
            return

        def do():
            self._remove(ann)

        def undo():
            self._attach(ann)
            self.items.append(ann)
            self._persist_add(ann)
            self.changed.emit()

        self.undo.push(_Cmd("delete annotation", do, undo))

    def modify(self, ann: DrawnFinding, finding: Finding | None = None, sentence: str | None = None) -> None:
        before = (ann.finding, ann.sentence)
        after = (finding or ann.finding, ann.sentence if sentence is None else sentence)
        if before == after:
            return

        def apply(state):
            ann.finding, ann.sentence = state
            self._refresh_roi(ann)
            self._persist_update(ann)
            self.changed.emit()
            if ann is self.current:
                self.selected.emit(ann)

        self.undo.push(_Cmd("edit annotation", lambda: apply(after), lambda: apply(before)))

    def _remove(self, ann: DrawnFinding) -> None:
        self._detach(ann)
        if ann in self.items:
            self.items.remove(ann)
        self._persist_delete(ann)
        if self.current is ann:
            self.select(None)
        self.changed.emit()

    # ----------------------------------------------------------------- ROIs
    def _attach(self, ann: DrawnFinding) -> None:
        img = self.view.image
        r = max(min(img.width, img.height) / 120.0, 3.0) if img is not None else 5.0
        roi = roi_for(ann.finding, r)
        roi.setParentItem(self.view.root)
        roi.setZValue(20)
        roi.sigRegionChangeFinished.connect(lambda _r, a=ann: self._roi_moved(a))
        roi.sigClicked.connect(lambda _r, _ev, a=ann: self.select(a))
        roi.setAcceptedMouseButtons(QtCore.Qt.MouseButton.LeftButton)
        text = pg.TextItem(self._caption(ann), color=COLOUR, anchor=(0, 1))
        text.setParentItem(self.view.root)
        text.setPos(ann.finding.x0, ann.finding.y0)
        roi._caption = text  # type: ignore[attr-defined]
        ann.roi = roi

    def _detach(self, ann: DrawnFinding) -> None:
        roi = ann.roi
        if roi is None:
            return
        for item in (getattr(roi, "_caption", None), roi):
            if item is None:
                continue
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        ann.roi = None

    def _refresh_roi(self, ann: DrawnFinding) -> None:
        self._detach(ann)
        self._attach(ann)
        if ann is self.current:
            ann.roi.setPen(pg.mkPen(SELECTED, width=3))

    def _roi_moved(self, ann: DrawnFinding) -> None:
        if ann.roi is None:
            return
        new = finding_from_roi(ann.roi, ann.finding)
        if new != ann.finding:
            self.modify(ann, new)

    @staticmethod
    def _caption(ann: DrawnFinding) -> str:
        return f"{ann.finding.label} ({ann.finding.certainty})" + (" ⟷" if ann.sentence else "")

    def select(self, ann: DrawnFinding | None) -> None:
        self.current = ann
        for a in self.items:
            if a.roi is not None:
                a.roi.setPen(pg.mkPen(SELECTED if a is ann else COLOUR, width=3 if a is ann else 2))
        if ann is None:
            self.deselected.emit()
        else:
            self.selected.emit(ann)

    def select_sentence(self, sentence: str) -> DrawnFinding | None:
        """The report's caret entered ``sentence``: select the annotation linked to it."""
        for a in self.items:
            if a.sentence and a.sentence == sentence:
                self.select(a)
                return a
        return None

    # ----------------------------------------------------------------- persistence
    def _failed(self, exc: BaseException) -> None:
        self.store_failed.emit(f"Annotations: {workers.error_text(exc)}")

    def _persist_add(self, ann: DrawnFinding) -> None:
        if self.store is None or not self.study_id:
            return
        uid, reader, finding, sentence = self.study_id, self.reader, ann.finding, ann.sentence

        def run(s):  # the store thread runs calls in order, so later updates/deletes see the id
            ann.db_id = s.add_annotation(uid, finding, reader, sentence)

        self.store.call(run, None, self._failed)

    def _persist_update(self, ann: DrawnFinding) -> None:
        if self.store is None:
            return
        finding, sentence = ann.finding, ann.sentence

        def run(s):
            if ann.db_id is not None:
                s.update_annotation(ann.db_id, finding, sentence)

        self.store.call(run, None, self._failed)

    def _persist_delete(self, ann: DrawnFinding) -> None:
        if self.store is None:
            return

        def run(s):
            if ann.db_id is not None:
                s.delete_annotation(ann.db_id)
                ann.db_id = None

        self.store.call(run, None, self._failed)


class AnnotationPanel(QtWidgets.QWidget):
    """Tool buttons, the list of annotations and the selected one's label, certainty and sentence link."""

    def __init__(self, ctl: AnnotationController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        tools = QtWidgets.QHBoxLayout()
        group = QtWidgets.QButtonGroup(self)
        for tool, text, key in (
            (POINTER, "Pan", "Esc"),
            (AnnotationShape.ELLIPSE, "Ellipse", "E"),
            (AnnotationShape.BOX, "Box", "B"),
            (AnnotationShape.POLYGON, "Polygon", "P"),
            (AnnotationShape.POINT, "Point", "T"),
        ):
            b = QtWidgets.QToolButton()
            b.setObjectName("toolButton")  # the active tool is highlighted (theme)
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(f"{text} ({key})")
            b.clicked.connect(lambda _=False, t=tool: self.set_tool(t))
            group.addButton(b)
            tools.addWidget(b)
            self.tool_buttons[tool] = b
        self.tool_buttons[POINTER].setChecked(True)
        self.label = QtWidgets.QComboBox()
        self.label.setEditable(True)
        self.label.addItems(list(CHEXPERT_OBSERVATIONS[1:]))
        self.label.setCurrentText(ctl.label)
        self.label.setToolTip("Observation (a CheXpert name or any free label)")
        self.label.lineEdit().installEventFilter(self)
        self.label.installEventFilter(self)
        self.certainty = QtWidgets.QComboBox()
        self.certainty.addItems([CERTAINTY[i] for i in range(1, 6)])
        self.certainty.setCurrentIndex(ctl.certainty - 1)
        self.list = QtWidgets.QListWidget()
        self.link_btn = QtWidgets.QPushButton("Link to report sentence")
        self.link_btn.setToolTip("Link the selected annotation to the sentence under the report's cursor")
        self.delete_btn = QtWidgets.QPushButton("Delete")
        form = QtWidgets.QFormLayout()
        form.addRow("Label", self.label)
        form.addRow("Certainty", self.certainty)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addLayout(tools)
        lay.addLayout(form)
        lay.addWidget(self.list, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.link_btn)
        row.addWidget(self.delete_btn)
        lay.addLayout(row)
        self.sentence = ""
        self.label.currentTextChanged.connect(self._label_changed)
        self.certainty.currentIndexChanged.connect(self._certainty_changed)
        self.list.currentRowChanged.connect(self._row_selected)
        self.delete_btn.clicked.connect(lambda: ctl.delete())
        self.link_btn.clicked.connect(self.link_current)
        ctl.changed.connect(self.refresh)
        ctl.selected.connect(self._on_selected)
        ctl.deselected.connect(self.refresh)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt naming
        """The label box opens its list on a click anywhere, and leaves Ctrl+Z / Ctrl+Shift+Z to
        the annotations' undo stack instead of undoing its own typing."""
        if obj is self.label or obj is self.label.lineEdit():
            if ev.type() == QtCore.QEvent.Type.MouseButtonPress and obj is not self.label:
                self.label.showPopup()
                return True
            if ev.type() == QtCore.QEvent.Type.ShortcutOverride and (
                ev.matches(QtGui.QKeySequence.StandardKey.Undo) or ev.matches(QtGui.QKeySequence.StandardKey.Redo)
            ):
                ev.ignore()
                return True
        return super().eventFilter(obj, ev)

    def follow_sentence(self, sentence: str) -> None:
        """The report's caret entered ``sentence``: link target for the next annotation, and select
        the annotation already linked to it."""
        self.sentence = sentence
        self.ctl.select_sentence(sentence)

    def set_tool(self, tool: str) -> None:
        self.ctl.set_tool(tool)
        self.tool_buttons[tool].setChecked(True)

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for a in self.ctl.items:
            f = a.finding
            link = f"\n   ⟷ “{a.sentence[:48]}…”" if a.sentence else ""
            size = size_mm(f, self.ctl.spacing())
            self.list.addItem(f"{f.shape}: {f.label}{size} · {CERTAINTY.get(f.certainty, f.certainty)}{link}")
        if self.ctl.current in self.ctl.items:
            self.list.setCurrentRow(self.ctl.items.index(self.ctl.current))
        self.list.blockSignals(False)

    def _on_selected(self, ann) -> None:
        self.refresh()
        if ann is None:
            return
        self.label.blockSignals(True)
        self.certainty.blockSignals(True)
        self.label.setCurrentText(ann.finding.label)
        self.certainty.setCurrentIndex(ann.finding.certainty - 1)
        self.label.blockSignals(False)
        self.certainty.blockSignals(False)

    def _row_selected(self, row: int) -> None:
        if 0 <= row < len(self.ctl.items):
            self.ctl.select(self.ctl.items[row])

    def _label_changed(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        self.ctl.label = text
        if self.ctl.current is not None and self.ctl.current.finding.label != text:
            self.ctl.modify(self.ctl.current, dataclasses.replace(self.ctl.current.finding, label=text))

    def _certainty_changed(self, index: int) -> None:
        self.ctl.certainty = index + 1
        cur = self.ctl.current
        if cur is not None and cur.finding.certainty != index + 1:
            self.ctl.modify(cur, dataclasses.replace(cur.finding, certainty=index + 1))

    def link_current(self) -> None:
        if self.ctl.current is not None and self.sentence:
            self.ctl.modify(self.ctl.current, sentence=self.sentence)
