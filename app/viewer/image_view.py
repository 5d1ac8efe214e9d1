"""The radiograph view: raw pixels in a pyqtgraph ``ImageItem``, window/level through display levels.

Why this shape: the pixels are uploaded once (as uint16 when they are integers, with an offset),
and window/level, invert and VOI LUTs only change the item's levels and lookup table, so
dragging the window stays at display frame rate on a 3000x3000 16-bit radiograph
(``autoDownsample`` keeps the per-frame work proportional to the screen, not the image).

Mouse: wheel zooms, middle-drag pans (left-drag too when no annotation tool is active),
right-drag does window/level (horizontal = level, vertical = width). Keys are bound by the
main window (``actions()``). Image, overlays and annotations all live under ``root``, whose
transform does rotate/flip, so everything drawn there is in image pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.viewer.viewport import ViewportState
from ml.gaze.sources.base import now_us
from ml.types import Image, Window

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

#: Radiograph presets as percentiles of the pixel distribution: radiographs have no fixed units
#: (8-bit PNG, 12-bit DX, 16-bit CR), so absolute CT-style presets would be meaningless.
PERCENTILE_PRESETS: dict[str, tuple[float, float]] = {
    "Auto (0.5–99.5 %)": (0.5, 99.5),
    "Lung (dark half)": (0.5, 75.0),
    "Mediastinum / bone": (35.0, 99.9),
    "Soft (wide)": (0.0, 100.0),
    "High contrast": (10.0, 90.0),
}


AUTO_PRESET = next(iter(PERCENTILE_PRESETS))


def usable_window(window: Window, auto: Window) -> bool:
    """A file's window is usable when it is not much wider than the field's own range and centred
    inside it (CR plates often carry a window over the whole detector range: a grey, flat image)."""
    return window.width <= 3.0 * auto.width and auto.low <= window.center <= auto.high


@dataclass
class DisplayData:
    """What the worker prepares for the view: the array to upload plus statistics for presets.

    ``pyramid[k]`` is the array mean-pooled by 2**k (``pyramid[0]`` is ``array``): the view shows
    the level that matches the zoom, so a window/level change re-maps about a screenful of pixels
    instead of re-reducing the full image on every repaint.
    """

    array: np.ndarray  # uint16 (offset applied) or float32
    offset: float  # modality value = array value + offset (integers only)
    percentiles: dict[float, float]
    vmin: float
    vmax: float
    pyramid: list[np.ndarray] = field(default_factory=list)


def build_pyramid(arr: np.ndarray, min_side: int = 256) -> list[np.ndarray]:
    """[arr, arr/2, arr/4, ...] by 2x2 mean pooling, down to about ``min_side`` pixels."""
    levels = [arr]
    while min(levels[-1].shape) >= 2 * min_side:
        a = levels[-1]
        h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
        pooled = a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3), dtype=np.float32)
        levels.append(pooled.astype(arr.dtype) if arr.dtype.kind in "ui" else pooled)
    return levels


def collimated_field(sample: np.ndarray) -> np.ndarray:
    """The sample without the collimator's flat borders: edge rows and columns whose spread is
    under 2 % of the image's, and pixels at the extreme values (shutters, padding, burnt-out air).

    A CR plate outside the collimated field reads near-constant values, so percentiles over the
    whole plate give a window dominated by the border; the field's pixels give a usable one.
    """
    finite = np.isfinite(sample)
    if not finite.any():
        return np.zeros(1)
    lo, hi = np.nanmin(sample), np.nanmax(sample)
    flat = 0.02 * max(float(hi - lo), 1e-9)
    rows = np.nanstd(sample, axis=1) >= flat
    cols = np.nanstd(sample, axis=0) >= flat
    if rows.any() and cols.any():
        r = np.flatnonzero(rows)
        c = np.flatnonzero(cols)
        sample = sample[r[0] : r[-1] + 1, c[0] : c[-1] + 1]
    values = sample[np.isfinite(sample)]
    inner = values[(values > lo) & (values < hi)]
    return inner if inner.size >= 0.05 * values.size else values


def prepare_display(image: Image) -> DisplayData:
    """Run on a worker thread: one copy at most, plus percentiles of the collimated field."""
    px = image.pixels
    if px.ndim != 2:
        raise ValueError(f"expected a 2-D radiograph, got shape {px.shape}")
    step = max(1, max(px.shape) // 768)
    field_px = collimated_field(np.asarray(px[::step, ::step], dtype=np.float64))
    qs = sorted({q for pair in PERCENTILE_PRESETS.values() for q in pair} | {0.0, 100.0})
    vals = np.percentile(field_px, qs)
    pct = {float(q): float(v) for q, v in zip(qs, vals, strict=True)}
    vmin, vmax = float(np.nanmin(px)), float(np.nanmax(px))
    offset = 0.0
    if np.issubdtype(px.dtype, np.integer) and vmax - vmin <= 65535:
        if px.dtype == np.uint16 or (px.dtype == np.uint8):
            arr = px  # no copy
        else:
            offset = vmin
            arr = (px.astype(np.int64) - int(vmin)).astype(np.uint16)
    else:
        arr = np.nan_to_num(px.astype(np.float32, copy=False), nan=vmin)
    arr = np.ascontiguousarray(arr)
    return DisplayData(arr, offset, pct, vmin, vmax, build_pyramid(arr))


class ViewerViewBox(pg.ViewBox):
    """A ViewBox whose right-drag does window/level and whose left-drag can go to a tool."""

    sigWindowDrag = QtCore.Signal(float, float)  # dx, dy in screen pixels

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.setMouseMode(pg.ViewBox.PanMode)
        self.left_drag_handler: Callable[[object], bool] | None = None
        self.left_click_handler: Callable[[object], bool] | None = None

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt naming
        button = ev.button()
        if button == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            self.sigWindowDrag.emit(float(d.x()), float(d.y()))
            return
        if (
            button == QtCore.Qt.MouseButton.LeftButton
            and self.left_drag_handler
            and self.left_drag_handler(ev)
        ):
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        if (
            ev.button() == QtCore.Qt.MouseButton.LeftButton
            and self.left_click_handler
            and self.left_click_handler(ev)
        ):
            return
        ev.accept()  # no context menu: right button is window/level


class PhysicalScaleBar(pg.ScaleBar):
    """A scale bar in millimetres that picks a round length for the current zoom."""

    NICE_MM = (1, 2, 5, 10, 20, 50, 100, 200)

    def __init__(self, mm_per_px: float) -> None:
        self.mm_per_px = mm_per_px
        super().__init__(
            size=50.0 / mm_per_px, width=4, brush=(230, 230, 230, 220), suffix="", offset=(-20, -36)
        )
        self.text.setColor(pg.mkColor(230, 230, 230))

    def updateBar(self):  # noqa: N802
        view = self.parentItem()
        if view is None:
            return
        p1 = view.mapFromViewToItem(self, QtCore.QPointF(0, 0))
        p2 = view.mapFromViewToItem(self, QtCore.QPointF(1, 0))
        screen_px_per_img_px = max(abs((p2 - p1).x()), 1e-9)
        mm = self.NICE_MM[-1]
        for cand in self.NICE_MM:
            if cand / self.mm_per_px * screen_px_per_img_px >= 80:
                mm = cand
                break
        self.size = mm / self.mm_per_px
        self.text.setText(f"{mm} mm" if mm < 10 or mm % 10 else f"{mm // 10} cm")
        super().updateBar()


class ImageView(QtWidgets.QWidget):
    """The viewer widget: image, overlays, corner text, tools; emits viewport changes."""

    viewport_changed = QtCore.Signal(ViewportState)
    window_changed = QtCore.Signal(Window)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(background=(0, 0, 0))
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.vb = ViewerViewBox()
        self.vb.state["wheelScaleFactor"] = -1.0 / 24.0  # about 10 % per wheel notch
        self.graphics.setCentralItem(self.vb)
        self.root = pg.ItemGroup()
        self.vb.addItem(self.root)
        self.image_item = pg.ImageItem(autoDownsample=False)  # our pyramid replaces per-paint downsampling
        self._level = -1
        self.image_item.setParentItem(self.root)
        self.image_item.setZValue(-100)
        self.scale_bar: PhysicalScaleBar | None = None

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._corner = {}
        for name in ("tl", "tr", "bl", "br"):
            lab = QtWidgets.QLabel(self.graphics)
            lab.setObjectName("cornerText")
            lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            lab.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            self._corner[name] = lab
        self._corner["tr"].setTextFormat(QtCore.Qt.TextFormat.RichText)
        self._corner["tr"].setObjectName("legend")
        self._corner["tr"].hide()
        self._placeholder = QtWidgets.QLabel("No study open", self.graphics)
        self._placeholder.setObjectName("viewerPlaceholder")
        self._placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)

        self.image: Image | None = None
        self.display: DisplayData | None = None
        self.study_id = ""
        self.window = Window(0.5, 1.0)
        self.invert = False
        self.rotation = 0
        self.flip_h = False
        self.flip_v = False
        self.use_voi_lut = False
        self._last_hover: tuple[float, float] | None = None

        self.vb.sigWindowDrag.connect(self._on_window_drag)
        self.vb.sigTransformChanged.connect(lambda *_: self._emit_viewport("viewport"))
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._update_corners()

    # ---------------------------------------------------------------- image
    def set_image(self, image: Image, display: DisplayData | None = None, study_id: str = "") -> None:
        """Show an image (``display`` prepared on a worker thread; computed here if omitted)."""
        self.image = image
        self.display = display or prepare_display(image)
        self.study_id = study_id or image.study_id or image.source
        self._placeholder.hide()
        if not self.display.pyramid:
            self.display.pyramid = [self.display.array]
        self._level = -1
        self._show_level(0)
        self.rotation, self.flip_h, self.flip_v = 0, False, False
        self._initial_window()
        if self.scale_bar is not None:
            self.vb.scene().removeItem(self.scale_bar) if self.scale_bar.scene() else None
            self.scale_bar = None
        if image.spacing:
            self.scale_bar = PhysicalScaleBar(float(image.spacing[1]))
            self.scale_bar.setParentItem(self.vb)
            # bottom centre: the corners hold the window/zoom and the pixel readout
            self.scale_bar.anchor(itemPos=(0.5, 1), parentPos=(0.5, 1), offset=(0, -14))
        self._apply_transform()
        self._apply_levels()
        self.fit()
        self._emit_viewport("image")

    def clear(self) -> None:
        self.image = None
        self.display = None
        self.image_item.clear()
        self._placeholder.show()
        self._update_corners()

    # ---------------------------------------------------------------- window / level
    def _initial_window(self) -> None:
        """The file's presentation (VOI LUT, or its first window when usable), else Auto; no inversion
        beyond what the photometric interpretation asks."""
        assert self.image is not None and self.display is not None
        image = self.image
        self.invert = bool(image.invert)
        self.use_voi_lut = image.voi_lut is not None and not image.windows
        auto = self.presets()[AUTO_PRESET]
        self.window = image.windows[0] if image.windows and usable_window(image.windows[0], auto) else auto

    def presets(self) -> dict[str, Window]:
        """DICOM windows of the file first, then percentile radiograph presets."""
        out: dict[str, Window] = {}
        if self.image is None or self.display is None:
            return out
        for i, w in enumerate(self.image.windows):
            out[f"DICOM: {w.name or f'window {i + 1}'}"] = w
        for name, (lo_q, hi_q) in PERCENTILE_PRESETS.items():
            lo, hi = self.display.percentiles[lo_q], self.display.percentiles[hi_q]
            if hi <= lo:
                hi = lo + 1.0
            out[name] = Window((lo + hi) / 2.0, hi - lo, name)
        return out

    def preset_name(self) -> str:
        """The name of the preset whose window is on screen ("" for a manual window or a VOI LUT)."""
        if self.use_voi_lut:
            return ""
        for name, w in self.presets().items():
            tol = 1e-6 * max(abs(w.width), 1.0)
            if abs(w.center - self.window.center) <= tol and abs(w.width - self.window.width) <= tol:
                return name
        return ""

    def set_window(self, window: Window) -> None:
        self.use_voi_lut = False
        self.window = Window(float(window.center), max(float(window.width), 1e-6), window.name)
        self._apply_levels()
        self._emit_viewport("window")
        self.window_changed.emit(self.window)

    def apply_preset(self, name: str) -> None:
        preset = self.presets().get(name)
        if preset is not None:
            self.set_window(preset)

    def auto_window(self) -> None:
        self.apply_preset(AUTO_PRESET)

    def set_invert(self, on: bool) -> None:
        self.invert = bool(on)
        self._apply_levels()
        self._emit_viewport("window")

    def toggle_invert(self) -> None:
        self.set_invert(not self.invert)

    def _on_window_drag(self, dx: float, dy: float) -> None:
        if self.display is None:
            return
        span = max(self.display.percentiles[99.5] - self.display.percentiles[0.5], 1e-6)
        k = span / 400.0  # about 400 screen pixels across the useful range
        self.set_window(
            Window(self.window.center + dx * k, max(self.window.width + dy * k, span / 1000.0), "Manual")
        )

    def _apply_levels(self) -> None:
        if self.image is None or self.display is None:
            return
        off = self.display.offset
        if self.use_voi_lut and self.image.voi_lut is not None:
            lut = np.asarray(self.image.voi_lut, dtype=np.float64)
            lut = (lut - lut.min()) / max(float(np.ptp(lut)), 1e-9)
            first = float(self.image.voi_lut_first_mapped)
            lo, hi = first - off, first + len(lut) - 1 - off
            ramp = (lut * 255.0).astype(np.uint8)
        else:
            lo, hi = self.window.low - off, self.window.high - off
            ramp = np.arange(256, dtype=np.uint8)
        if self.invert:
            ramp = ramp[::-1].copy()
        self.image_item.setLookupTable(ramp)
        self.image_item.setLevels([lo, hi])
        self._update_corners()

    # ---------------------------------------------------------------- geometry
    def fit(self) -> None:
        if self.image is None:
            return
        rect = self.root.mapRectToParent(QtCore.QRectF(0, 0, self.image.width, self.image.height))
        self.vb.setRange(rect=rect, padding=0.01)

    def zoom_by(self, factor: float) -> None:
        """factor > 1 zooms in, about the view centre."""
        self.vb.scaleBy((1.0 / factor, 1.0 / factor))

    def rotate(self, degrees: int = 90) -> None:
        self.rotation = (self.rotation + degrees) % 360
        self._apply_transform()
        self.fit()

    def flip(self, horizontal: bool = True) -> None:
        if horizontal:
            self.flip_h = not self.flip_h
        else:
            self.flip_v = not self.flip_v
        self._apply_transform()
        self.fit()

    def upright(self) -> None:
        """Undo rotation and flips, keeping window and inversion (gaze recording needs this view)."""
        if self.rotation or self.flip_h or self.flip_v:
            self.rotation, self.flip_h, self.flip_v = 0, False, False
            self._apply_transform()
            self.fit()

    def reset(self) -> None:
        """Space: original window, inversion, orientation and fit."""
        if self.image is None:
            return
        self.rotation, self.flip_h, self.flip_v = 0, False, False
        self._initial_window()
        self._apply_transform()
        self._apply_levels()
        self.fit()
        self._emit_viewport("window")
        self.window_changed.emit(self.window)

    def _apply_transform(self) -> None:
        if self.image is None:
            return
        w, h = self.image.width, self.image.height
        t = QtGui.QTransform()
        t.translate(w / 2.0, h / 2.0)
        t.rotate(self.rotation)
        t.scale(-1.0 if self.flip_h else 1.0, -1.0 if self.flip_v else 1.0)
        t.translate(-w / 2.0, -h / 2.0)
        # QTransform composes in reverse: the image point is first moved to the centre, flipped, rotated.
        self.root.setTransform(t)

    def image_to_screen(self) -> QtGui.QTransform:
        """Image pixels -> global logical screen pixels."""
        t = self.root.sceneTransform() * self.graphics.viewportTransform()
        origin = self.graphics.viewport().mapToGlobal(QtCore.QPoint(0, 0))
        return t * QtGui.QTransform.fromTranslate(origin.x(), origin.y())

    def map_scene_to_image(self, scene_pos: QtCore.QPointF) -> QtCore.QPointF:
        return self.root.mapFromScene(scene_pos)

    def zoom(self) -> float:
        t = self.root.sceneTransform() * self.graphics.viewportTransform()
        return float(np.hypot(t.m11(), t.m12()))

    def visible_image_rect(self) -> QtCore.QRectF:
        scene_rect = self.graphics.mapToScene(self.graphics.viewport().rect()).boundingRect()
        return self.root.mapFromScene(scene_rect).boundingRect()

    def viewport_state(self, kind: str = "viewport") -> ViewportState | None:
        if self.image is None:
            return None
        t = self.image_to_screen()
        vis = self.visible_image_rect()
        return ViewportState(
            t_us=now_us(),
            study_id=self.study_id,
            image_size=self.image.size,
            image_to_screen=(t.m11(), t.m12(), t.m21(), t.m22(), t.dx(), t.dy()),
            zoom=self.zoom(),
            window_center=float(self.window.center),
            window_width=float(self.window.width),
            invert=self.invert,
            rotation=self.rotation,
            flip_h=self.flip_h,
            flip_v=self.flip_v,
            device_pixel_ratio=float(self.devicePixelRatioF()),
            visible=(vis.left(), vis.top(), vis.right(), vis.bottom()),
            kind=kind,
        )

    def _show_level(self, level: int) -> None:
        """Upload pyramid level ``level`` (kept on the full image rectangle, so coordinates stay image pixels)."""
        if self.display is None or self.image is None:
            return
        level = max(0, min(level, len(self.display.pyramid) - 1))
        if level == self._level:
            return
        self._level = level
        levels = self.image_item.getLevels() if self.image_item.image is not None else None
        self.image_item.setImage(self.display.pyramid[level], autoLevels=False, levels=levels)
        self.image_item.setRect(QtCore.QRectF(0, 0, self.image.width, self.image.height))

    def _pick_level(self) -> None:
        if self.display is None or len(self.display.pyramid) < 2:
            return
        z = self.zoom() * float(self.devicePixelRatioF())
        level = int(np.floor(np.log2(1.0 / z))) if z > 0 else 0
        self._show_level(level)

    def _emit_viewport(self, kind: str) -> None:
        if kind == "viewport":
            self._pick_level()
        state = self.viewport_state(kind)
        if state is not None:
            self._update_corners()
            self.viewport_changed.emit(state)

    # ---------------------------------------------------------------- readout
    def pixel_value(self, x: float, y: float) -> float | None:
        if self.image is None:
            return None
        col, row = int(np.floor(x)), int(np.floor(y))
        if 0 <= row < self.image.height and 0 <= col < self.image.width:
            return float(self.image.pixels[row, col])
        return None

    def _on_mouse_moved(self, scene_pos) -> None:
        if self.image is None:
            return
        p = self.map_scene_to_image(scene_pos)
        value = self.pixel_value(p.x(), p.y())
        self._last_hover = (p.x(), p.y()) if value is not None else None
        self._update_corners()

    def _update_corners(self) -> None:
        img = self.image
        if img is None:
            for name, lab in self._corner.items():
                if name != "tr":
                    lab.setText("")
            return
        md = img.metadata or {}
        tl = [str(md.get("PatientName") or md.get("patient") or self.study_id or "")]
        desc = " ".join(x for x in (img.view_position, img.laterality) if x)
        if desc:
            tl.append(desc)
        tl.append(f"{img.width} × {img.height}  {img.bits_stored}-bit {img.photometric}")
        if img.spacing:
            tl.append(f"{img.spacing[1]:.3f} × {img.spacing[0]:.3f} mm/px")
        self._corner["tl"].setText("\n".join(t for t in tl if t))
        wl = "VOI LUT" if self.use_voi_lut else f"W {self.window.width:.0f}  L {self.window.center:.0f}"
        extras = []
        if self.image is not None and self.invert != bool(self.image.invert):
            extras.append("inverted")  # against the file's presentation, i.e. what the reader sees
        if self.rotation:
            extras.append(f"rot {self.rotation}°")
        if self.flip_h:
            extras.append("flip H")
        if self.flip_v:
            extras.append("flip V")
        bl = [wl, f"Zoom {self.zoom() * 100:.0f} %"] + ([", ".join(extras)] if extras else [])
        self._corner["bl"].setText("\n".join(bl))
        if self._last_hover is not None:
            x, y = self._last_hover
            v = self.pixel_value(x, y)
            vs = "" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}")
            self._corner["br"].setText(f"x {int(x)}  y {int(y)}\nvalue {vs}")
        else:
            self._corner["br"].setText("")
        self._layout_corners()

    def set_legend(self, html: str) -> None:
        """The legend in the top-right corner (rich text; empty hides it)."""
        self._corner["tr"].setText(html)
        self._corner["tr"].setVisible(bool(html))
        self._layout_corners()

    def set_corner_text(self, corner: str, text: str) -> None:
        self._corner[corner].setText(text)
        self._layout_corners()

    def _layout_corners(self) -> None:
        w, h, m = self.graphics.width(), self.graphics.height(), 10
        for name, lab in self._corner.items():
            if name != "tr":  # the legend shows and hides itself
                lab.setVisible(bool(lab.text()))  # an empty corner draws no background box
            lab.adjustSize()
            x = m if name[1] == "l" else w - lab.width() - m
            y = m if name[0] == "t" else h - lab.height() - m
            lab.move(x, y)
            lab.raise_()
        self._placeholder.setGeometry(0, 0, w, h)
        bar = getattr(self, "_top_bar", None)
        if bar is not None:
            bar.setGeometry(0, 0, w, bar.sizeHint().height())
            bar.raise_()

    def set_top_bar(self, bar: QtWidgets.QWidget) -> None:
        """Float ``bar`` across the top of the view (over the image, outside the layout)."""
        bar.setParent(self.graphics)
        self._top_bar = bar
        self._layout_corners()

    def relayout(self) -> None:
        """Place the corner texts and the floating bar again (after one of them changed)."""
        self._layout_corners()

    def window_moved(self) -> None:
        """The top-level window moved: the image moved on screen (the window calls this)."""
        if self.image is not None:
            self._emit_viewport("viewport")

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._layout_corners()
        if self.image is not None:
            self._emit_viewport("viewport")
