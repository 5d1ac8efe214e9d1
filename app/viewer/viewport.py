"""Viewport state: what the reader sees and how screen pixels map to image pixels.

Every change (zoom, pan, window/level, invert, rotate/flip, a new image) is emitted as a
``ViewportState`` so a gaze recorder can log it with a monotonic timestamp and map each
screen-space gaze sample back to image pixels exactly, also after the reader zoomed or panned.
``image_to_screen`` is the affine (Qt ``QTransform`` order: m11, m12, m21, m22, dx, dy) from
image pixels to global logical screen pixels: ``sx = m11*x + m21*y + dx``, ``sy = m12*x + m22*y + dy``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class ViewportState:
    t_us: int
    study_id: str
    image_size: tuple[int, int]  # (width, height) in image pixels
    image_to_screen: tuple[float, float, float, float, float, float]
    zoom: float  # screen pixels per image pixel
    window_center: float
    window_width: float
    invert: bool = False
    rotation: int = 0  # degrees clockwise, multiple of 90
    flip_h: bool = False
    flip_v: bool = False
    device_pixel_ratio: float = 1.0
    visible: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x0, y0, x1, y1 in image px
    kind: str = "viewport"  # viewport | image | window
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def matrix(self) -> np.ndarray:
        """3x3 column-vector matrix image -> screen."""
        m11, m12, m21, m22, dx, dy = self.image_to_screen
        return np.array([[m11, m21, dx], [m12, m22, dy], [0.0, 0.0, 1.0]])

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        sx, sy, _ = self.matrix() @ np.array([x, y, 1.0])
        return float(sx), float(sy)

    def to_image(self, sx: float, sy: float) -> tuple[float, float]:
        x, y, _ = np.linalg.solve(self.matrix(), np.array([sx, sy, 1.0]))
        return float(x), float(y)

