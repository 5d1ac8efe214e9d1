"""CT → projection radiograph: Beer–Lambert line integrals, then what a DR system does to them.

Torch-free (numpy + scipy). The volume is summed once into thick coronal slabs (:class:`SlabStack`);
a view then places every slab on the detector with its own magnification (a point source at
``sid_mm``: structures far from the detector are enlarged, which is why the heart looks bigger on
an AP film) and the patient's pose (rotation about the vertical axis and tilt shift slabs against
each other, roll and translation move the whole image). Because projection is linear, an injected
finding only has to be summed over its own small box and added to the slabs.

The exposure model turns line integrals into a processed image: primary transmission, scatter (a
wide blur of the primary), quantum noise, detector blur, the log, then the DR look: large-scale
dynamic-range compression plus edge enhancement, mapped to 12 bits (MONOCHROME2, bone white).

Volume convention: LAS voxel order, axis 0 → patient left, 1 → anterior, 2 → superior; positions in
mm are ``index * spacing``. Image convention: the PA view as a radiologist hangs it (patient's right
on the viewer's left), pixels origin top-left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

#: Linear attenuation of water at the effective energy of a chest radiograph (~60 keV), per mm.
MU_WATER = 0.0206


def hu_to_mu(hu: np.ndarray, bone_gain: float = 1.8) -> np.ndarray:
    """Attenuation (1/mm) from Hounsfield units.

    Below water the CT scale is linear in density. Above it, bone's calcium attenuates relatively
    more at radiographic energies than at CT's, so positive HU are scaled by ``bone_gain``.
    """
    hu = np.asarray(hu, dtype=np.float32)
    rel = np.where(hu > 0, hu * (bone_gain / 1000.0), hu / 1000.0)
    return np.maximum(MU_WATER * (1.0 + rel), 0.0).astype(np.float32)


@dataclass
class SlabStack:
    """Line integrals (value × mm) of a volume through ``S`` coronal slabs: ``sums[s, x, z]``."""

    sums: np.ndarray  # float32 (S, X, Z)
    edges: np.ndarray  # int (S+1,) slab boundaries along axis 1 (voxel index)
    spacing: tuple[float, float, float]
    empty: np.ndarray | None = None  # optional (S,) bool: slabs known to be all zero are skipped

    @classmethod
    def from_volume(
        cls, volume: np.ndarray, spacing: tuple[float, float, float], edges: np.ndarray
    ) -> SlabStack:
        edges = np.asarray(edges, dtype=np.int64)
        sums = np.add.reduceat(np.asarray(volume, dtype=np.float32), edges[:-1], axis=1) * spacing[1]
        return cls(np.ascontiguousarray(np.moveaxis(sums, 1, 0)), edges, spacing)

    @staticmethod
    def even_edges(lo: int, hi: int, n: int) -> np.ndarray:
        """``n`` slabs of (nearly) equal thickness covering voxel rows ``lo:hi`` along axis 1."""
        return np.unique(np.linspace(lo, hi, n + 1).round().astype(np.int64))

    @property
    def depth_mm(self) -> np.ndarray:
        """Centre of each slab along axis 1 (mm)."""
        return (self.edges[:-1] + self.edges[1:]) * 0.5 * self.spacing[1]

    def copy(self) -> SlabStack:
        return SlabStack(self.sums.copy(), self.edges, self.spacing)

    @classmethod
    def of_box(cls, delta: np.ndarray, origin: tuple[int, int, int], like: SlabStack) -> SlabStack:
        """A stack holding only ``delta`` placed at ``origin`` (zeros elsewhere; empty slabs flagged)."""
        out = cls(np.zeros_like(like.sums), like.edges, like.spacing)
        out.add_box(np.asarray(delta, dtype=np.float32), origin)
        out.empty = ~out.sums.any(axis=(1, 2))
        return out

    def add_box(self, delta: np.ndarray, origin: tuple[int, int, int]) -> None:
        """Add a sub-volume ``delta`` whose first voxel sits at ``origin`` (in place)."""
        x0, y0, z0 = origin
        nx, ny, nz = delta.shape
        sy = self.spacing[1]
        for s in range(len(self.edges) - 1):
            a, b = max(self.edges[s], y0), min(self.edges[s + 1], y0 + ny)
            if a < b:
                self.sums[s, x0 : x0 + nx, z0 : z0 + nz] += delta[:, a - y0 : b - y0, :].sum(axis=1) * sy


@dataclass(frozen=True)
class Geometry:
    """Where source, patient and detector are, and how the patient stands."""

    view: str = "PA"  # PA: detector in front of the chest; AP: behind it
    sid_mm: float = 1800.0  # source-to-image distance (PA 180 cm; portable AP ~100 cm)
    rows: int = 1024
    cols: int = 1024
    pixel_mm: float = 0.35
    yaw_deg: float = 0.0  # rotation about the body's long axis (the "rotated patient")
    tilt_deg: float = 0.0  # lordotic / kyphotic tilt about the left-right axis
    roll_deg: float = 0.0  # in-plane rotation
    shift_mm: tuple[float, float] = (0.0, 0.0)  # patient offset on the detector (right, up)
    gap_mm: float = 15.0  # skin-to-detector distance

    def scaled(self, factor: float) -> Geometry:
        """The same view on a detector ``factor`` times smaller in pixels (tests, previews)."""
        return replace(
            self,
            rows=max(8, round(self.rows * factor)),
            cols=max(8, round(self.cols * factor)),
            pixel_mm=self.pixel_mm / factor,
        )


@dataclass(frozen=True)
class Scene:
    """The patient's reference points in volume mm: beam centre and the body's front and back."""

    center_mm: tuple[float, float, float]
    anterior_mm: float
    posterior_mm: float


class CTProjector:
    """Projects slab stacks onto the detector of one :class:`Geometry`, and maps points there."""

    def __init__(self, geometry: Geometry, scene: Scene, spacing: tuple[float, float, float]) -> None:
        if geometry.view not in ("PA", "AP"):
            raise ValueError(f"view must be PA or AP, got {geometry.view!r}")
        self.g, self.scene, self.spacing = geometry, scene, spacing
        if geometry.view == "PA":
            self._det_y, self._sign = scene.anterior_mm + geometry.gap_mm, 1.0
        else:
            self._det_y, self._sign = scene.posterior_mm - geometry.gap_mm, -1.0
        g = geometry
        # the part of the plane the (rolled) detector sees, plus a margin for interpolation
        c, s = abs(math.cos(math.radians(g.roll_deg))), abs(math.sin(math.radians(g.roll_deg)))
        half_u = 0.5 * (g.cols * c + g.rows * s) * g.pixel_mm
        half_v = 0.5 * (g.cols * s + g.rows * c) * g.pixel_mm
        self._U = half_u + abs(g.shift_mm[0]) + 4.0
        self._V = half_v + abs(g.shift_mm[1]) + 4.0
        # the intermediate plane is sampled at the CT's own resolution (or the detector's, if coarser)
        self._du = max(spacing[0], geometry.pixel_mm)
        self._dv = max(spacing[2] / 2.0, geometry.pixel_mm)

    def magnification(self, y_mm: np.ndarray | float) -> np.ndarray:
        d = self._sign * (self._det_y - np.asarray(y_mm, dtype=np.float64))  # distance to detector
        return self.g.sid_mm / (self.g.sid_mm - d)

    def _shifts(self, y_mm: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        dy = np.asarray(y_mm, dtype=np.float64) - self.scene.center_mm[1]
        return dy * math.tan(math.radians(self.g.yaw_deg)), dy * math.tan(math.radians(self.g.tilt_deg))

    def project(self, stack: SlabStack, order: int = 3) -> np.ndarray:
        """Line integral image (rows, cols) of a slab stack."""
        sx, _, sz = self.spacing
        xc, _, zc = self.scene.center_mm
        na = int(math.ceil(2 * self._U / self._du)) + 1
        nb = int(math.ceil(2 * self._V / self._dv)) + 1
        plane = np.zeros((na, nb), dtype=np.float32)
        depth = stack.depth_mm
        mags = self.magnification(depth)
        ddx, ddz = self._shifts(depth)
        for s in range(stack.sums.shape[0]):
            if stack.empty is not None and stack.empty[s]:
                continue
            m = mags[s]
            matrix = np.array([self._du / (m * sx), self._dv / (m * sz)])
            offset = np.array([(-self._U / m + xc - ddx[s]) / sx, (-self._V / m + zc - ddz[s]) / sz])
            plane += ndimage.affine_transform(
                stack.sums[s], matrix, offset, output_shape=(na, nb), order=1, mode="nearest"
            )
        return self._to_detector(plane, order)

    def _to_detector(self, plane: np.ndarray, order: int) -> np.ndarray:
        g = self.g
        psi = math.radians(g.roll_deg)
        c, s = math.cos(psi), math.sin(psi)
        p = g.pixel_mm
        # detector (r, col) → centred mm (uc, vc) → rotated/shifted (u, v) → plane index (a, b)
        # uc = (col + .5 - cols/2) p ; vc = (rows/2 - r - .5) p ; u = c uc - s vc - sx ; v = s uc + c vc - sy
        du_dr, du_dc = s * p, c * p  # u = c*uc - s*vc with d(vc)/dr = -p
        dv_dr, dv_dc = -c * p, s * p
        uc0, vc0 = (0.5 - g.cols / 2) * p, (g.rows / 2 - 0.5) * p
        u0 = c * uc0 - s * vc0 - g.shift_mm[0]
        v0 = s * uc0 + c * vc0 - g.shift_mm[1]
        A = np.array([[du_dr / self._du, du_dc / self._du], [dv_dr / self._dv, dv_dc / self._dv]])
        offset = np.array([(u0 + self._U) / self._du, (v0 + self._V) / self._dv])
        # affine_transform maps output (r, col) to input (a, b) = A @ (r, col) + offset
        return ndimage.affine_transform(
            plane, A, offset, output_shape=(g.rows, g.cols), order=order, mode="nearest"
        ).astype(np.float32)

    def to_pixels(self, points_mm: np.ndarray) -> np.ndarray:
        """Volume points (N, 3) in mm → detector pixels (N, 2) as (x = column, y = row)."""
        pts = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        xc, _, zc = self.scene.center_mm
        m = self.magnification(pts[:, 1])
        ddx, ddz = self._shifts(pts[:, 1])
        u = m * (pts[:, 0] - xc + ddx) + self.g.shift_mm[0]
        v = m * (pts[:, 2] - zc + ddz) + self.g.shift_mm[1]
        psi = math.radians(self.g.roll_deg)
        c, s = math.cos(psi), math.sin(psi)
        uc, vc = c * u + s * v, -s * u + c * v  # inverse roll
        p = self.g.pixel_mm
        return np.stack([uc / p + self.g.cols / 2 - 0.5, self.g.rows / 2 - 0.5 - vc / p], axis=1)


@dataclass(frozen=True)
class Exposure:
    """Acquisition and processing settings of one film."""

    photons: float = 6000.0  # mean quanta per pixel without the patient (sets quantum noise)
    scatter: float = 0.35  # scatter-to-primary scale behind water-equivalent tissue
    scatter_sigma_mm: float = 40.0
    blur_px: float = 0.7  # focal spot + detector unsharpness
    compress: float = 0.55  # large-scale dynamic range compression (0 = none)
    compress_sigma_mm: float = 35.0
    edge_gain: float = 0.9  # unsharp-mask edge enhancement
    edge_sigma_mm: float = 2.5
    bits: int = 12


def _smooth(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """A Gaussian blur; wide ones are computed on a decimated copy (the result is smooth anyway)."""
    step = max(1, int(sigma_px // 3))
    if step == 1:
        return ndimage.gaussian_filter(image, sigma_px, mode="nearest")
    h, w = image.shape
    small = image[: h // step * step, : w // step * step]
    small = small.reshape(h // step, step, w // step, step).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma_px / step, mode="nearest")
    zoom = (h / small.shape[0], w / small.shape[1])
    return ndimage.zoom(small, zoom, order=1, mode="nearest", grid_mode=True)[:h, :w]


def expose(
    line_integral: np.ndarray, exposure: Exposure, pixel_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Processed radiograph (float32, ~0..1, higher = more attenuating) from a line-integral image."""
    p = np.asarray(line_integral, dtype=np.float32)
    primary = np.exp(-p)
    signal = primary + exposure.scatter * _smooth(primary, exposure.scatter_sigma_mm / pixel_mm)
    counts = signal * exposure.photons
    counts += rng.standard_normal(counts.shape, dtype=np.float32) * np.sqrt(np.maximum(counts, 1.0))
    counts = ndimage.gaussian_filter(counts, exposure.blur_px, mode="nearest", truncate=3.0)
    log = -np.log(np.maximum(counts, 0.5) / exposure.photons)
    if exposure.compress > 0:
        low = _smooth(log, exposure.compress_sigma_mm / pixel_mm)
        log -= exposure.compress * (low - float(np.median(low)))
    if exposure.edge_gain > 0:
        log += exposure.edge_gain * (log - _smooth(log, exposure.edge_sigma_mm / pixel_mm))
    lo, hi = np.percentile(log[::4, ::4], [0.5, 99.8])
    out = (log - lo) / max(float(hi - lo), 1e-6)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def to_stored(image01: np.ndarray, bits: int = 12, gamma: float = 1.0) -> np.ndarray:
    """Unsigned ``bits``-bit stored pixel values (MONOCHROME2) from a 0..1 image."""
    top = (1 << bits) - 1
    return (np.clip(image01, 0, 1) ** gamma * top + 0.5).astype(np.uint16)
