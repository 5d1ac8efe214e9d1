"""The patient: who stands in front of the detector, beyond the one CT every render starts from.

Every render projects the same adult CT, so without this module every film shows the same body:
same soft tissue, same breath-hold, no devices. A model trained on that learns one body and fails
on real films. A :class:`Patient` (the cohort option ``--patient``) gives each case, drawn from its
own generator (``[seed, 4]``) so the fixed patient renders exactly the films it rendered before:

- habitus: a thicker or thinner soft-tissue envelope (extra water along the rays), and breast
  shadows (soft-tissue domes over the lower zones) in female cases;
- inspiration: the lung fields stretched or squeezed vertically about the apices, so the
  hemidiaphragms sit lower or higher;
- rotation: a wider spread of the patient's yaw about the long axis;
- the AP portable film (for AP views): scapulae over the upper zones, fewer quanta, more scatter;
- paediatric size: the same anatomy at a child's scale, smaller in the frame with air around it,
  its heart relatively larger (enlarged as a cardiomegaly is, but not labelled one);
- support devices: ECG electrodes and wires, a central venous line, an endotracheal tube, a
  pacemaker with its lead, drawn as high-attenuation line integrals.

Geometric changes are one :class:`Warp` applied to the line-integral image and to every projected
mask alike, so the ground truth (masks, ellipses, the readers' targets) stays on the anatomy.
What a case got is returned as notes (``cases.csv``: ``patient``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ml.cohort.render import MU_WATER

DEVICES = ("ecg", "central_line", "ett", "pacemaker")
#: CheXpert's convention (and the rule labeler's): external ECG leads are not a support device.
LABELLED_DEVICES = ("central_line", "ett", "pacemaker")

#: The words a report uses for each device (the rule labeler reads them as Support Devices).
DEVICE_SENTENCES: dict[str, tuple[str, ...]] = {
    "ecg": (
        "External ECG leads overlie the chest.",
        "Monitoring leads project over the chest.",
    ),  # not a device
    "central_line": (
        "Right subclavian central venous catheter with tip in the SVC.",
        "Central line tip projects over the superior vena cava.",
    ),
    "ett": (
        "Endotracheal tube tip is above the carina.",
        "Endotracheal tube in satisfactory position.",
    ),
    "pacemaker": (
        "Left chest wall pacemaker with lead in the right ventricle.",
        "Dual chamber pacemaker in place.",
    ),
}


@dataclass(frozen=True)
class Patient:
    """How much patients vary: spreads (habitus, inspiration, rotation_deg) and probabilities."""

    habitus: float = 0.0  # sd of the soft-tissue thickness factor
    breasts: float = 0.0  # probability of a female case with breast shadows
    inspiration: float = 0.0  # sd of the vertical scale of the lung fields
    rotation_deg: float = 0.0  # sd of extra yaw (degrees)
    child: float = 0.0  # probability of a paediatric case
    devices: float = 0.0  # probability of any support device
    ap_portable: bool = False  # AP views get the portable film's scapulae, noise and scatter

    @property
    def fixed(self) -> bool:
        return not any(asdict(self).values())


PATIENTS: dict[str, Patient] = {
    "fixed": Patient(),
    "varied": Patient(
        habitus=0.3,
        breasts=0.45,
        inspiration=0.06,
        rotation_deg=3.0,
        child=0.08,
        devices=0.25,
        ap_portable=True,
    ),
}


@dataclass(frozen=True)
class PatientDraw:
    """What one case got."""

    habitus: float = 1.0  # soft-tissue thickness factor (1 = the CT's own)
    female: bool = False
    inspiration: float = 1.0  # vertical scale of the lung fields (< 1: domes higher)
    yaw_deg: float = 0.0  # added to the geometry's yaw
    child_scale: float = 1.0  # < 1: a child, the anatomy this much smaller
    heart_scale: float = 1.0  # > 1: the heart enlarged transversely (a child's relatively larger heart)
    age: int = 0  # years; 0 when not drawn
    portable: bool = False
    devices: tuple[str, ...] = ()

    @property
    def fixed(self) -> bool:
        return self == PatientDraw()

    def notes(self) -> dict[str, object]:
        if self.fixed:
            return {}
        out: dict[str, object] = {
            "habitus": round(self.habitus, 2), "inspiration": round(self.inspiration, 3), "age": self.age,
        }  # fmt: skip
        if self.female:
            out["female"] = True
        if self.child_scale < 1:
            out["child"] = round(self.child_scale, 2)
        if self.heart_scale > 1:
            out["heart"] = round(self.heart_scale, 3)
        if self.portable:
            out["portable"] = True
        if self.devices:
            out["devices"] = "+".join(self.devices)
        return out


def draw_patient(patient: Patient, seed: int, view: str) -> PatientDraw:
    """One case's patient, from its own generator (the fixed patient draws nothing)."""
    if patient.fixed:
        return PatientDraw()
    rng = np.random.default_rng([seed, 4])
    child = bool(rng.random() < patient.child)
    scale = float(rng.uniform(0.62, 0.85)) if child else 1.0
    age = int(rng.integers(3, 13)) if child else int(rng.integers(25, 90))
    female = bool(rng.random() < patient.breasts) and not child
    habitus = float(np.clip(rng.normal(1.0, patient.habitus), 0.6, 1.8))
    if child:
        habitus = max(habitus, 1.1)  # relatively more soft tissue around a child's chest
    inspiration = float(np.clip(rng.normal(1.0, patient.inspiration), 0.85, 1.12))
    yaw = float(rng.normal(0.0, patient.rotation_deg)) if patient.rotation_deg > 0 else 0.0
    devices: tuple[str, ...] = ()
    if rng.random() < patient.devices:
        p = {"ecg": 0.7, "central_line": 0.45, "ett": 0.25 if view == "AP" else 0.08, "pacemaker": 0.2}
        devices = tuple(d for d in DEVICES if rng.random() < p[d]) or ("ecg",)
    heart = float(rng.uniform(1.05, 1.12)) if child else 1.0  # drawn last: the other draws keep their values
    portable = patient.ap_portable and view == "AP"
    return PatientDraw(habitus, female, inspiration, yaw, scale, heart, age, portable, devices)


class Warp:
    """Output pixel (r, c) ← input (ra + (r - ra') / (s·sy), cc + (c - cc) / s).

    ``s`` (the child's scale) shrinks the image about its centre, ``sy`` (inspiration) stretches it
    about the apex row ``ra`` (which ``s`` moves to ``ra'``).
    """

    def __init__(self, shape: tuple[int, int], apex_row: float, scale: float, inspiration: float) -> None:
        h, w = shape
        self.shape = shape
        self.scale = scale
        ra_out = h / 2 + (apex_row - h / 2) * scale
        self.matrix = np.array([1.0 / (scale * inspiration), 1.0 / scale])
        self.offset = np.array([apex_row - ra_out / (scale * inspiration), w / 2 - (w / 2) / scale])
        self.identity = scale == 1.0 and inspiration == 1.0

    def image(self, x: np.ndarray) -> np.ndarray:
        if self.identity:
            return x
        out = ndimage.affine_transform(x, self.matrix, self.offset, order=1, mode="nearest")
        if self.scale < 1.0:  # a child: air around a smaller body, its corners rounded off
            inside = ndimage.affine_transform(np.ones_like(x), self.matrix, self.offset, order=1, cval=0.0)
            rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
            cy, cx = (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2
            body = _dome(x.shape, cy, cx, 0.62 * (rows[-1] - rows[0]), 0.6 * (cols[-1] - cols[0])) > 0
            out *= ndimage.gaussian_filter(inside * body, max(1.0, x.shape[1] / 30))
        return out.astype(np.float32)

    def mask(self, m: np.ndarray) -> np.ndarray:
        if self.identity:
            return m
        return ndimage.affine_transform(m.astype(np.uint8), self.matrix, self.offset, order=0, cval=0) > 0


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, col0, row1, col1) of a mask, or the whole image's middle half when empty."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    h, w = mask.shape
    if len(rows) == 0:
        return h // 4, w // 4, 3 * h // 4, 3 * w // 4
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _dome(shape, cy, cx, ry, rx) -> np.ndarray:
    """A hemispherical thickness profile (0..1) over an ellipse."""
    h, w = shape
    yy = (np.arange(h, dtype=np.float32)[:, None] - cy) / max(ry, 1.0)
    xx = (np.arange(w, dtype=np.float32)[None, :] - cx) / max(rx, 1.0)
    return np.sqrt(np.clip(1.0 - yy**2 - xx**2, 0.0, None))


def soft_tissue(shape, anatomy: dict[str, np.ndarray], draw: PatientDraw, pixel_mm: float, rng) -> np.ndarray:
    """Extra line integral (1/mm · mm) of habitus, breasts and, on portable films, scapulae."""
    h, w = shape
    out = np.zeros(shape, dtype=np.float32)
    r0, c0, r1, c1 = _box(anatomy["lung_right"] | anatomy["lung_left"])
    cy, cx = (r0 + r1) / 2, (c0 + c1) / 2
    half_w, half_h = (c1 - c0) / 2, (r1 - r0) / 2
    if draw.habitus != 1.0:  # the envelope: chest wall, axillae and the soft tissue over the lungs
        body = _dome(shape, cy + 0.15 * half_h, cx, 1.5 * half_h, 1.25 * half_w)
        out += (draw.habitus - 1.0) * 60.0 * MU_WATER * (0.4 + 0.6 * (body > 0)) * body**0.3
    if draw.female:
        depth = rng.uniform(35.0, 75.0) * MU_WATER * draw.habitus
        for side, lung in ((-1, "lung_right"), (1, "lung_left")):
            lr0, lc0, lr1, lc1 = _box(anatomy[lung])
            by = lr0 + 0.78 * (lr1 - lr0) + rng.normal(0, 0.02) * h
            bx = (lc0 + lc1) / 2 + side * 0.12 * (lc1 - lc0)
            ry, rx = 0.28 * (lr1 - lr0), 0.55 * (lc1 - lc0)
            out += (
                depth * _dome(shape, by - 0.5 * ry, bx, ry * 1.5, rx) * (np.arange(h)[:, None] > by - 2 * ry)
            )
    if draw.portable:  # scapulae rotated over the lateral upper zones on an AP film
        for side in (-1, 1):
            sx = cx + side * 0.82 * half_w
            sc = _dome(shape, r0 + 0.3 * half_h * 2, sx, 0.32 * half_h * 2, 0.16 * half_w * 2)
            out += 0.45 * (sc > 0) * (0.5 + 0.5 * sc)
    return ndimage.gaussian_filter(out, max(0.5, 1.5 / pixel_mm)) if draw.female or draw.portable else out


def _curve(points: np.ndarray, n: int) -> np.ndarray:
    """A Bézier curve through control points (k, 2) as (row, col), sampled at ``n`` points."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    k = len(points) - 1
    return sum(math.comb(k, i) * (1 - t) ** (k - i) * t**i * points[i] for i in range(k + 1))


def _stroke(img: np.ndarray, pts: np.ndarray) -> None:
    """Deposit one unit of line per pixel of length along ``pts`` (rows, cols) into ``img``."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()
    dense = (
        _curve(pts, max(8, int(seg * 2)))
        if len(pts) > 2
        else np.linspace(pts[0], pts[-1], max(8, int(seg * 2)))
    )
    r, c = np.round(dense[:, 0]).astype(int), np.round(dense[:, 1]).astype(int)
    ok = (r >= 0) & (r < img.shape[0]) & (c >= 0) & (c < img.shape[1])
    np.add.at(img, (r[ok], c[ok]), 0.5)


def devices(shape, anatomy: dict[str, np.ndarray], draw: PatientDraw, pixel_mm: float, rng) -> np.ndarray:
    """Line integral of the support devices: thin wires and tubes, electrodes, a generator box."""
    h, w = shape
    wires = np.zeros(shape, dtype=np.float32)
    solid = np.zeros(shape, dtype=np.float32)
    r0, c0, r1, c1 = _box(anatomy["lung_right"] | anatomy["lung_left"])
    hr0, hc0, hr1, hc1 = _box(anatomy["heart"])
    mid = (c0 + c1) / 2
    mm = 1.0 / pixel_mm  # pixels per mm
    j = lambda s: rng.normal(0, s * mm)  # noqa: E731  (jitter in mm)
    if "ecg" in draw.devices:
        spots = [(r0 - 5 * mm, c0 + 10 * mm), (r0 - 5 * mm, c1 - 10 * mm), (hr1 + 15 * mm, c1 - 25 * mm)]
        if rng.random() < 0.5:
            spots.append((hr1 + 15 * mm, c0 + 25 * mm))
        for y, x in spots:
            y, x = y + j(8), x + j(8)
            solid += 0.25 * (_dome(shape, y, x, 9 * mm, 9 * mm) > 0) + 1.5 * (
                _dome(shape, y, x, 2.5 * mm, 2.5 * mm) > 0
            )
            end = (rng.uniform(0, h), 0.0 if x < mid else w - 1.0)
            bend = ((y + end[0]) / 2 + j(30), (x + end[1]) / 2 + j(30))
            _stroke(wires, np.array([(y, x), bend, end]))
    if "central_line" in draw.devices:  # right subclavian (image left) into the SVC
        svc = (hr0 - 5 * mm + j(5), hc0 + 0.25 * (mid - hc0) + j(3))
        start = (r0 - 2 * mm + j(5), c0 - 5 * mm + j(5))
        _stroke(wires, np.array([start, (r0 + 5 * mm, mid - 35 * mm), (r0 + 15 * mm, svc[1]), svc]))
    if "ett" in draw.devices:  # midline from the top of the film to above the carina
        tip = r0 + 0.22 * (hr0 - r0) + j(6)
        x = mid + j(2)
        for dx in (-4.0, 4.0):
            _stroke(wires, np.array([(0.0, x + dx * mm), (tip, x + dx * mm + j(1))]))
    if "pacemaker" in draw.devices:  # generator in the left chest wall (image right), lead to the RV apex
        gy, gx = r0 + 12 * mm + j(6), c1 - 30 * mm + j(6)
        box = np.zeros(shape, dtype=np.float32)
        box[int(gy - 18 * mm) : int(gy + 18 * mm), int(gx - 22 * mm) : int(gx + 22 * mm)] = 1.0
        solid += 2.5 * box
        rv = (hr1 - 12 * mm + j(5), hc0 + 0.6 * (hc1 - hc0) + j(5))
        _stroke(wires, np.array([(gy, gx - 20 * mm), (r0, mid), (hr0 - 10 * mm, mid - 15 * mm), rv]))
    sigma = max(0.6, 0.8 * mm)
    wires = ndimage.gaussian_filter(wires, sigma) * (1.2 * math.sqrt(2 * math.pi) * sigma)
    return wires + ndimage.gaussian_filter(solid, max(0.5, 0.5 * mm))
