"""Findings injected into the CT at anatomically valid places, using the TotalSegmentator labels.

Every injector edits a working copy of the HU volume inside a small box and returns a
:class:`Lesion` with that box's region mask, so the renderer only re-projects the box (projection
is linear) and the ground truth (mask, ellipse, side, lobe, severity) comes from the same voxels
that changed. Densities: fluid/soft tissue ~+20–45 HU, ground glass ~-450 HU, air -1000 HU.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ml.cohort.ct import LEFT_LOBES, LOBES, RIGHT_LOBES, Phantom, _cache_folder, load_phantom

LOBE_NAMES = {
    "RUL": "right upper lobe",
    "RML": "right middle lobe",
    "RLL": "right lower lobe",
    "LUL": "left upper lobe",
    "LLL": "left lower lobe",
}

#: Each kind → the CheXpert observations it makes positive (1) or uncertain (-1).
KIND_LABELS: dict[str, dict[str, int]] = {
    "nodule": {"Lung Lesion": 1},
    "mass": {"Lung Lesion": 1},
    "consolidation": {"Consolidation": 1, "Lung Opacity": 1, "Pneumonia": -1},
    "effusion": {"Pleural Effusion": 1},
    "pneumothorax": {"Pneumothorax": 1},
    "cardiomegaly": {"Cardiomegaly": 1, "Enlarged Cardiomediastinum": 1},
    "atelectasis": {"Atelectasis": 1, "Lung Opacity": 1},
    "edema": {"Edema": 1, "Lung Opacity": 1},
}
KINDS: tuple[str, ...] = tuple(KIND_LABELS)

#: REFLACX's anomaly names for the ellipse files (``anomaly_location_ellipses.csv`` columns).
REFLACX_NAMES: dict[str, str] = {
    "nodule": "Lung nodule or mass",
    "mass": "Lung nodule or mass",
    "consolidation": "Consolidation",
    "effusion": "Pleural abnormality",
    "pneumothorax": "Pneumothorax",
    "cardiomegaly": "Enlarged cardiac silhouette",
    "atelectasis": "Atelectasis",
    "edema": "Pulmonary edema",
}


@dataclass
class Lesion:
    """One injected finding: what, where, how bad, and the voxels it changed."""

    kind: str
    side: str  # right | left | bilateral | ""
    location: str  # words a report uses: "right upper lobe", "left costophrenic angle", ...
    severity: str  # small/moderate/large or mild/moderate/severe
    subtle: bool
    size_mm: float
    origin: tuple[int, int, int]  # first voxel of the box
    region: np.ndarray  # bool, the box's finding voxels
    lobe: str = ""  # RUL ... when the finding sits in one lobe
    zone: str = ""  # upper | mid | lower (for lung findings)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, int]:
        return dict(KIND_LABELS[self.kind])


@dataclass
class Anatomy:
    """The phantom plus what injectors need, computed once per process.

    ``lobe_depth``: mm from each lung voxel to the edge of its lobe; ``hilum``: voxel index of each
    hilum (centre of that side's pulmonary veins); ``lung_box``/``lung``: each side's bounding box
    and lung mask inside it; ``dome_k``: slice index of the top of each hemidiaphragm;
    ``visible_xz``: (X, Z) columns whose ray crosses lung but no heart or upper-abdominal organ, i.e.
    where a lung finding shows on a frontal film.
    """

    phantom: Phantom
    lobe_depth: np.ndarray
    hilum: dict[str, np.ndarray]
    lung_box: dict[str, tuple[slice, slice, slice]]
    lung: dict[str, np.ndarray]
    lobe_box: dict[str, tuple[slice, slice, slice]]
    heart_box: tuple[slice, slice, slice]
    dome_k: dict[str, int]
    visible_xz: np.ndarray

    @property
    def spacing(self) -> np.ndarray:
        return np.asarray(self.phantom.spacing)

    def lung_in(self, side: str, box: tuple[slice, ...]) -> np.ndarray:
        """That side's lung mask over an arbitrary box (cheap: cut from the cached side mask)."""
        lb = self.lung_box[side]
        out = np.zeros(tuple(s.stop - s.start for s in box), dtype=bool)
        inter = [slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(box, lb, strict=True)]
        if all(i.start < i.stop for i in inter):
            dst = tuple(slice(i.start - b.start, i.stop - b.start) for i, b in zip(inter, box, strict=True))
            src = tuple(slice(i.start - b.start, i.stop - b.start) for i, b in zip(inter, lb, strict=True))
            out[dst] = self.lung[side][src]
        return out


@functools.lru_cache(maxsize=1)
def load_anatomy() -> Anatomy:
    """The phantom and its derived maps (computed once, the slow part cached next to the phantom)."""
    ph = load_phantom()
    path = _cache_folder() / "lobe_depth.npy"
    labels = np.asarray(ph.labels)
    lobe_box = {code: ph.box(code) for code in LOBES}
    if path.exists():
        depth = np.load(path, mmap_mode="r")
    else:
        depth = np.zeros(ph.shape, dtype=np.uint8)
        for code, sl in lobe_box.items():
            m = labels[sl] == ph.label_id(LOBES[code])
            d = ndimage.distance_transform_edt(np.pad(m, 1), sampling=ph.spacing)[1:-1, 1:-1, 1:-1]
            sub = depth[sl]
            sub[m] = np.clip(d[m], 0, 255).astype(np.uint8)
        tmp = path.with_name(f"tmp{os.getpid()}_{path.name}")
        np.save(tmp, depth)
        tmp.replace(path)
    hilum, boxes, lungs = {}, {}, {}
    vb = ph.box("pulmonary_vein")
    veins = np.argwhere(ph.mask("pulmonary_vein", box=vb)) + np.array([s.start for s in vb])
    tb = ph.box("trachea")
    mid = float(np.argwhere(ph.mask("trachea", box=tb)).mean(0)[0]) + tb[0].start
    for side, lobes in (("right", RIGHT_LOBES), ("left", LEFT_LOBES)):
        pts = veins[veins[:, 0] < mid] if side == "right" else veins[veins[:, 0] >= mid]
        hilum[side] = pts.mean(0)
        box = ph.box(*lobes)
        boxes[side] = box
        lungs[side] = ph.mask(*lobes, box=box)
    heart_box = ph.box("heart")
    dome = {"right": ph.box("liver")[2].stop - 1, "left": ph.box("stomach", "spleen")[2].stop + 1}
    blockers = ph.mask("heart", "liver", "spleen", "stomach").any(axis=1)
    visible = ph.lungs().any(axis=1) & ~blockers
    return Anatomy(ph, depth, hilum, boxes, lungs, lobe_box, heart_box, dome, visible)


# --------------------------------------------------------------------------- helpers


def _box(center: np.ndarray, radius_mm: np.ndarray | float, spacing: np.ndarray, shape: tuple[int, ...]):
    r = np.ceil(np.broadcast_to(radius_mm, (3,)) / spacing).astype(int) + 2
    lo = np.maximum(np.floor(center).astype(int) - r, 0)
    hi = np.minimum(np.floor(center).astype(int) + r + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def _grid_mm(box: tuple[slice, ...], spacing: np.ndarray, center: np.ndarray):
    return [
        ((np.arange(s.start, s.stop, dtype=np.float32) - np.float32(c)) * np.float32(sp)).reshape(
            [-1 if d == k else 1 for d in range(3)]
        )
        for k, (s, sp, c) in enumerate(zip(box, spacing, center, strict=True))
    ]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Unit-variance smooth random field, correlation length ~``sigma`` in-plane voxels.

    Drawn on a grid ``sigma`` times coarser in x and y (z voxels are already 2.5 mm), smoothed there
    and repeated up: block edges of ~2 mm vanish in the projection, and it costs little.
    """
    step = max(1, int(round(sigma)))
    coarse = (shape[0] // step + 1, shape[1] // step + 1, *shape[2:])
    small = ndimage.gaussian_filter(rng.standard_normal(coarse).astype(np.float32), 1.0)
    small /= small.std() + 1e-6
    big = np.repeat(np.repeat(small, step, axis=0), step, axis=1)
    return big[tuple(slice(0, s) for s in shape)]


def _sigmoid_step(x: np.ndarray, width: float) -> np.ndarray:
    """1 inside (x < 0), 0 outside, a soft edge ``width`` wide (exp overflow far outside is the 0 limit)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(x / width))


def _blend(hu: np.ndarray, box, weight: np.ndarray, target: float) -> None:
    """hu[box] ← hu + weight · (target − hu), only where it raises (or lowers, for air) density."""
    sub = hu[box].astype(np.float32)
    new = sub + weight * (target - sub)
    hu[box] = np.round(new).astype(np.int16)


def _zone(anat: Anatomy, k: float, side: str) -> str:
    sl = anat.lung_box[side][2]
    f = (k - sl.start) / max(sl.stop - sl.start, 1)
    return "lower" if f < 0.36 else "mid" if f < 0.68 else "upper"


def _pick_voxel(rng: np.random.Generator, anat: Anatomy, lobe: str, min_depth_mm: float) -> np.ndarray:
    """A random voxel of ``lobe`` at least ``min_depth_mm`` inside it, preferring visible columns."""
    ph = anat.phantom
    lab = ph.label_id(LOBES[lobe])
    box = anat.lobe_box[lobe]
    inside = np.asarray(ph.labels[box]) == lab
    seen = anat.visible_xz[box[0], box[2]][:, None, :]
    for ok in (
        inside & (anat.lobe_depth[box] >= min_depth_mm) & seen,
        inside & (anat.lobe_depth[box] >= min_depth_mm / 2) & seen,
        inside & seen,
        inside,
    ):
        pts = np.argwhere(ok)
        if len(pts):
            break
    p = pts[rng.integers(len(pts))] + np.array([s.start for s in box])
    return p.astype(np.float64) + rng.uniform(-0.5, 0.5, 3)


# --------------------------------------------------------------------------- injectors


def nodule(
    rng: np.random.Generator,
    anat: Anatomy,
    hu: np.ndarray,
    lobe: str,
    diameter_mm: float,
    kind: str = "nodule",
    subtle: bool = False,
) -> Lesion:
    """A solid (or, when subtle, part-solid) lobulated nodule/mass well inside ``lobe``."""
    sp = anat.spacing
    r = diameter_mm / 2
    c = _pick_voxel(rng, anat, lobe, min(r + 4, 30))
    box = _box(c, r * 1.4 + 2, sp, hu.shape)
    gx, gy, gz = _grid_mm(box, sp, c)
    dist = np.sqrt(gx**2 + gy**2 + gz**2)
    lobulation = 1.0 + (0.18 if kind == "mass" else 0.1) * _smooth_noise(rng, dist.shape, 3.0)
    w = _sigmoid_step(dist - r * lobulation, 0.8)
    target = -150.0 if subtle else 35.0
    w = w.astype(np.float32)
    _blend(hu, box, w, target)
    side = "right" if lobe.startswith("R") else "left"
    return Lesion(kind, side, LOBE_NAMES[lobe], _size_word(kind, diameter_mm), subtle, diameter_mm,
                  tuple(s.start for s in box), w > 0.5, lobe, _zone(anat, c[2], side))  # fmt: skip


def _size_word(kind: str, d: float) -> str:
    if kind == "nodule":
        return "small" if d < 10 else "moderate" if d < 20 else "large"
    return "moderate" if d < 45 else "large"


def consolidation(
    rng: np.random.Generator, anat: Anatomy, hu: np.ndarray, lobe: str, severity: str, subtle: bool = False
) -> Lesion:
    """Airspace opacity filling part of ``lobe`` (patchy or lobar), with air bronchograms kept."""
    ph, sp = anat.phantom, anat.spacing
    lab = ph.label_id(LOBES[lobe])
    c = _pick_voxel(rng, anat, lobe, 8)
    radius = {"mild": 22.0, "moderate": 38.0, "severe": 70.0}[severity] * rng.uniform(0.85, 1.2)
    box = _box(c, radius * 1.5, sp, hu.shape)
    gx, gy, gz = _grid_mm(box, sp, c)
    dist = np.sqrt(gx**2 + gy**2 + gz**2)
    noise = _smooth_noise(rng, dist.shape, 4.0)
    field_ = dist / radius + 0.25 * noise
    inside = ph.labels[box] == lab
    w = _sigmoid_step(field_ - 1.0, 0.08).astype(np.float32) * inside
    airway = hu[box] < -960  # large bronchi stay dark: air bronchograms
    w[airway] *= 0.15
    target = -450.0 if subtle else 25.0
    _blend(hu, box, w * (0.8 + 0.2 * (noise > 0)), target)
    side = "right" if lobe.startswith("R") else "left"
    region = w > 0.4
    return Lesion("consolidation", side, LOBE_NAMES[lobe], severity, subtle, 2 * radius,
                  tuple(s.start for s in box), region, lobe, _zone(anat, c[2], side))  # fmt: skip


def effusion(
    rng: np.random.Generator, anat: Anatomy, hu: np.ndarray, side: str, severity: str, subtle: bool = False
) -> Lesion:
    """Pleural fluid filling the recesses, blunting the costophrenic angle, meniscus rising laterally.

    Heights are relative to the top of the hemidiaphragm: a small effusion only fills the recess
    and the lateral angle, a moderate one covers the dome, a large one climbs to the mid zone.
    """
    sp = anat.spacing
    box = anat.lung_box[side]
    lung = anat.lung[side]
    base, rise = {"small": (-38.0, 45.0), "moderate": (-28.0, 75.0), "large": (5.0, 85.0)}[severity]
    if subtle:
        base, rise = -34.0, 50.0
    base *= rng.uniform(0.85, 1.15)
    xs = np.nonzero(lung.any(axis=(1, 2)))[0]
    x_med, x_lat = (xs.max(), xs.min()) if side == "right" else (xs.min(), xs.max())
    lateral = np.clip((np.arange(lung.shape[0]) - x_med) / (x_lat - x_med), 0, 1).reshape(-1, 1, 1)
    ys = np.nonzero(lung.any(axis=(0, 2)))[0]
    post = np.clip((ys.max() - np.arange(lung.shape[1])) / max(ys.max() - ys.min(), 1), 0, 1).reshape(
        1, -1, 1
    )
    level_mm = base + rise * lateral**1.6 + 8.0 * post  # the meniscus: concave, climbing the lateral wall
    z_mm = ((np.arange(lung.shape[2]) + box[2].start - anat.dome_k[side]) * sp[2]).reshape(1, 1, -1)
    w = _sigmoid_step(z_mm - level_mm, 2.5).astype(np.float32) * lung
    _blend(hu, box, w, 15.0)
    region = w > 0.5
    where = "costophrenic angle" if severity == "small" or subtle else "base"
    return Lesion("effusion", side, f"{side} {where}", severity, subtle, base + rise,
                  tuple(s.start for s in box), region, "", "lower")  # fmt: skip


def pneumothorax(
    rng: np.random.Generator, anat: Anatomy, hu: np.ndarray, side: str, severity: str, subtle: bool = False
) -> Lesion:
    """Apical/lateral pleural air: the lung retracts towards the hilum behind a thin visceral pleural line."""
    box = anat.lung_box[side]
    lung = anat.lung[side]
    h = anat.hilum[side] - np.array([s.start for s in box])
    f = {"small": 0.87, "moderate": 0.78, "large": 0.65}[severity] * rng.uniform(0.97, 1.03)
    if subtle:
        f = 0.93
    # retraction is strongest at the apex (air rises) and laterally, none below the hilum's level;
    # the scale factors depend on the slice only, so each slice is a 2-D zoom of a source slice
    nz = lung.shape[2]
    src_lung = lung.astype(np.float32)
    collapsed = np.zeros_like(lung)
    for k in range(nz):
        up = min(max((k - h[2]) / max(nz - h[2], 1), 0.0), 1.0)
        fz = 1.0 - (1.0 - f) * (0.3 + 0.7 * up) if k > h[2] else 1.0
        fx = 1.0 - (1.0 - f) * 0.8 * (0.25 + 0.75 * up)
        zs = h[2] + (k - h[2]) / fz
        if zs > nz - 1:
            continue
        k0 = int(zs)
        t = zs - k0
        plane = (1 - t) * src_lung[:, :, k0] + t * src_lung[:, :, min(k0 + 1, nz - 1)]
        zoomed = ndimage.affine_transform(
            plane, [1.0 / fx, 1.0], [h[0] - h[0] / fx, 0.0], order=1, mode="constant"
        )
        collapsed[:, :, k] = zoomed > 0.5
    collapsed &= lung
    air = lung & ~collapsed
    line = (
        collapsed
        & ~ndimage.binary_erosion(collapsed, iterations=1)
        & ndimage.binary_dilation(air, iterations=2)
    )
    sub = hu[box].copy()
    sub[air] = -1000
    sub[line] = np.maximum(sub[line], 160)  # the visceral pleura, seen edge-on as a thin white line
    sub[collapsed & ~line] = np.minimum(sub[collapsed & ~line] + 60, 60)  # the deflated lung is denser
    hu[box] = sub
    depth_mm = float((1 - f) * (lung.shape[0] * anat.spacing[0]) * 0.35)
    # the truth on the film is where the lung no longer reaches: that side's lung minus the collapsed lung
    return Lesion("pneumothorax", side, f"{side} apex", severity, subtle, depth_mm,
                  tuple(s.start for s in box), collapsed, "", "upper", {"outside_of": 1.0})  # fmt: skip


def cardiomegaly(
    rng: np.random.Generator, anat: Anatomy, hu: np.ndarray, scale: float, severity: str
) -> Lesion:
    """The heart enlarged about its centre (mostly transversely), displacing lung."""
    ph, sp = anat.phantom, anat.spacing
    hb = anat.heart_box
    c = np.array([(s.start + s.stop) / 2 for s in hb])
    # lean towards the left and down, as an enlarged left ventricle does
    c = c + np.array([0.05, 0.0, -0.05]) * np.array([s.stop - s.start for s in hb])
    half = np.array([(s.stop - s.start) / 2 for s in hb]) * sp * scale * 1.2 + 6
    box = _box(c, half, sp, hu.shape)
    heart = np.asarray(ph.labels[box]) == ph.label_id("heart")
    cc = c - np.array([s.start for s in box])
    scales = np.array([scale, 1.0 + 0.6 * (scale - 1.0), 1.0 + 0.35 * (scale - 1.0)])
    # a scaling about cc: input = cc + (output - cc) / scale (diagonal, so scipy's fast zoom path),
    # done on a grid 2x coarser in x and y (1.4 mm) and repeated back up
    coarse = heart[::2, ::2].astype(np.float32)
    cc2 = cc / np.array([2.0, 2.0, 1.0])
    big = ndimage.affine_transform(coarse, 1.0 / scales, cc2 - cc2 / scales, order=1) > 0.5
    big = np.repeat(np.repeat(big, 2, axis=0), 2, axis=1)[: heart.shape[0], : heart.shape[1]]
    sub = hu[box].copy()
    grow = big & ~heart & (sub < 200)  # never over bone
    sub[grow] = 40
    hu[box] = sub
    return Lesion("cardiomegaly", "", "heart", severity, False, 0.0,
                  tuple(s.start for s in box), big, "", "", {"scale": scale})  # fmt: skip


def atelectasis(
    rng: np.random.Generator, anat: Anatomy, hu: np.ndarray, side: str, severity: str, subtle: bool = False
) -> Lesion:
    """Plate-like (discoid) atelectasis: a thin, nearly horizontal band of density above the base."""
    _ph, sp = anat.phantom, anat.spacing
    lobes = {"right": ("RLL", "RML"), "left": ("LLL",)}[side]
    lobe = lobes[int(rng.integers(len(lobes)))] if severity != "severe" else lobes[0]
    c = _pick_voxel(rng, anat, lobe, 10)
    c[2] = anat.dome_k[side] + rng.uniform(8.0, 30.0) / sp[2]  # just above the hemidiaphragm
    thick = {"mild": 3.0, "moderate": 5.0, "severe": 9.0}[severity] * (0.8 if subtle else 1.0)
    length = {"mild": 35.0, "moderate": 55.0, "severe": 75.0}[severity] * rng.uniform(0.85, 1.15)
    tilt = math.radians(rng.uniform(-12, 12))
    box = _box(c, np.array([length * 0.6, length * 0.45, thick * 3 + 12]), sp, hu.shape)
    gx, gy, gz = _grid_mm(box, sp, c)
    t = gz - gx * math.tan(tilt)
    plate = np.exp(-0.5 * (t / (thick / 2)) ** 2) * np.exp(
        -0.5 * ((gx / (length / 2)) ** 4 + (gy / (length * 0.35)) ** 4)
    )
    lung = anat.lung_in(side, box)
    w = (np.clip(plate, 0, 1) * lung).astype(np.float32)
    _blend(hu, box, w, -200.0 if subtle else 20.0)
    return Lesion("atelectasis", side, f"{side} lung base", severity, subtle, length,
                  tuple(s.start for s in box), w > 0.35, lobe, "lower")  # fmt: skip


def edema(
    rng: np.random.Generator, anat: Anatomy, hu: np.ndarray, severity: str, subtle: bool = False
) -> Lesion:
    """Bilateral perihilar (bat-wing) haziness fading towards the periphery."""
    _ph, sp = anat.phantom, anat.spacing
    amp = {"mild": 170.0, "moderate": 280.0, "severe": 420.0}[severity] * (0.6 if subtle else 1.0)
    sigma = {"mild": 45.0, "moderate": 55.0, "severe": 70.0}[severity]
    boxes = [anat.lung_box["right"], anat.lung_box["left"]]
    box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(*boxes, strict=True))
    lung = anat.lung_in("right", box) | anat.lung_in("left", box)
    sub = hu[box].astype(np.float32)
    weight = np.zeros(lung.shape, dtype=np.float32)
    for side in ("right", "left"):  # separable Gaussians around each hilum
        gx, gy, gz = _grid_mm(box, sp, anat.hilum[side])
        ex, ey, ez = (np.exp(-0.5 * (g * a / sigma) ** 2) for g, a in ((gx, 1.0), (gy, 0.8), (gz, 1.3)))
        np.maximum(weight, ex * ey * ez, out=weight)
    noise = 1.0 + 0.15 * _smooth_noise(rng, lung.shape, 3.0)
    delta = amp * weight * noise * lung
    hu[box] = np.round(np.minimum(sub + delta, np.maximum(sub, 30))).astype(np.int16)
    return Lesion("edema", "bilateral", "perihilar", severity, subtle, sigma,
                  tuple(s.start for s in box), (weight > 0.45) & lung, "", "mid")  # fmt: skip
