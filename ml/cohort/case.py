"""One synthetic study: sample what it shows (view, pose, exposure, findings), render it, measure the truth.

``sample_case`` draws a :class:`CaseSpec` from a seed; :class:`Renderer` (one per process: it holds
the attenuation slabs of the CT) turns it into a :class:`RenderedCase` with the 12-bit image, every
finding's projected mask and ellipses, the projected lobe/heart/lung masks, the cardiothoracic
ratio and the CheXpert-14 labels. Everything is a function of the spec, so a seed fixes the pixels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from ml.cohort import lesions as L
from ml.cohort.ct import LOBES
from ml.cohort.look import LOOKS, Look, apply_look
from ml.cohort.patient import (
    LABELLED_DEVICES,
    PATIENTS,
    Patient,
    PatientDraw,
    Warp,
    devices,
    draw_patient,
    soft_tissue,
)
from ml.cohort.render import MU_WATER, CTProjector, Exposure, Geometry, Scene, SlabStack, expose, to_stored
from ml.types import CHEXPERT_OBSERVATIONS

N_SLABS = 24
N_MASK_SLABS = 6
MASK_FACTOR = 4  # projected masks are computed on a 4x coarser detector, then upsampled


@dataclass
class FindingSpec:
    kind: str
    side: str = ""
    lobe: str = ""
    severity: str = "moderate"
    subtle: bool = False
    size_mm: float = 0.0  # nodule/mass diameter
    scale: float = 1.0  # cardiomegaly: transverse enlargement of the heart


@dataclass
class CaseSpec:
    case_id: str
    seed: int
    geometry: Geometry
    exposure: Exposure
    bone_gain: float = 2.4
    gamma: float = 1.5
    findings: list[FindingSpec] = field(default_factory=list)
    look: Look = LOOKS["plain"]  # the clinical look added after the exposure (``ml.cohort.look``)
    patient: PatientDraw = PatientDraw()  # habitus, inspiration, size, devices (``ml.cohort.patient``)


@dataclass
class Ellipse:
    """Axis-aligned ellipse given by its bounding box in image pixels (REFLACX's convention)."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class TruthFinding:
    spec: FindingSpec
    lesion: L.Lesion
    mask: np.ndarray  # bool (rows, cols), projected
    ellipses: list[Ellipse]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (
            min(e.x0 for e in self.ellipses),
            min(e.y0 for e in self.ellipses),
            max(e.x1 for e in self.ellipses),
            max(e.y1 for e in self.ellipses),
        )

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox
        return (x0 + x1) / 2, (y0 + y1) / 2


@dataclass
class RenderedCase:
    spec: CaseSpec
    pixels: np.ndarray  # uint16 (rows, cols), 12-bit, MONOCHROME2
    findings: list[TruthFinding]
    anatomy: dict[str, np.ndarray]  # projected masks: RUL..LLL, heart, lung_right, lung_left
    ctr: float
    labels: dict[str, int]  # CheXpert-14: 1 positive, -1 uncertain, 0 negative
    magnification: float = 1.0  # at the beam centre: pixel spacing at the patient = pitch / this
    geometry: Geometry | None = None  # the geometry rendered (the spec's, scaled for small images)
    look: dict = field(default_factory=dict)  # what the clinical look added (``apply_look``'s notes)
    patient: dict = field(default_factory=dict)  # what the patient got (``PatientDraw.notes``)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def display(self) -> np.ndarray:
        """8-bit display image (the stored values are already for presentation)."""
        return (self.pixels.astype(np.float32) * (255.0 / 4095.0) + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- sampling

_KIND_WEIGHTS = {
    "nodule": 0.16, "mass": 0.06, "consolidation": 0.16, "effusion": 0.16,
    "pneumothorax": 0.10, "cardiomegaly": 0.12, "atelectasis": 0.13, "edema": 0.08,
}  # fmt: skip


def _finding(rng: np.random.Generator, kind: str, taken_sides: dict[str, str]) -> FindingSpec:
    subtle = bool(rng.random() < 0.22) and kind in (
        "nodule",
        "consolidation",
        "effusion",
        "pneumothorax",
        "atelectasis",
    )
    side = "right" if rng.random() < 0.55 else "left"
    if kind in ("nodule", "mass", "consolidation"):
        lobe = str(rng.choice(list(LOBES)))
        side = "right" if lobe.startswith("R") else "left"
        if kind == "nodule":
            size = float(rng.uniform(7, 11) if subtle else rng.uniform(10, 28))
            return FindingSpec(kind, side, lobe, "", subtle, size)
        if kind == "mass":
            return FindingSpec(kind, side, lobe, "", False, float(rng.uniform(32, 55)))
        sev = "mild" if subtle else str(rng.choice(["mild", "moderate", "severe"], p=[0.35, 0.4, 0.25]))
        return FindingSpec(kind, side, lobe, sev, subtle)
    if kind in ("effusion", "pneumothorax"):
        other = "pneumothorax" if kind == "effusion" else "effusion"
        if taken_sides.get(other) == side:
            side = "left" if side == "right" else "right"
        sev = "small" if subtle else str(rng.choice(["small", "moderate", "large"], p=[0.45, 0.35, 0.2]))
        return FindingSpec(kind, side, "", sev, subtle)
    if kind == "cardiomegaly":
        sev = str(rng.choice(["mild", "moderate", "severe"], p=[0.45, 0.35, 0.2]))
        scale = {"mild": 1.14, "moderate": 1.24, "severe": 1.34}[sev] * float(rng.uniform(0.97, 1.03))
        return FindingSpec(kind, "", "", sev, False, 0.0, scale)
    if kind == "atelectasis":
        sev = "mild" if subtle else str(rng.choice(["mild", "moderate", "severe"], p=[0.45, 0.4, 0.15]))
        return FindingSpec(kind, side, "", sev, subtle)
    sev = str(rng.choice(["mild", "moderate", "severe"], p=[0.4, 0.4, 0.2]))
    return FindingSpec("edema", "bilateral", "", sev, subtle)


def _draw_kinds(rng: np.random.Generator, weights: dict[str, float] | None) -> list[str]:
    n = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
    w = kind_weights(weights)
    kinds = list(w)
    p = np.array([w[k] for k in kinds])
    n = min(n, int((p > 0).sum()))  # weights that leave fewer kinds than findings drawn
    chosen = [str(k) for k in rng.choice(kinds, size=n, replace=False, p=p / p.sum())]
    if "edema" in chosen and "cardiomegaly" not in chosen and rng.random() < 0.5:
        chosen.append("cardiomegaly")
    return chosen


def _check_kinds(kinds: dict[str, float] | None) -> None:
    bad = set(kinds or {}) - set(_KIND_WEIGHTS)
    if bad:
        raise ValueError(
            f"unknown finding kind(s): {', '.join(sorted(bad))} (known: {', '.join(_KIND_WEIGHTS)})"
        )


def kind_weights(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """The finding-kind sampling weights, with ``overrides`` (e.g. more nodules) applied."""
    _check_kinds(overrides)
    if any(w < 0 for w in (overrides or {}).values()):
        raise ValueError("finding-kind weights must be >= 0")
    out = {**_KIND_WEIGHTS, **(overrides or {})}
    if sum(out.values()) <= 0:
        raise ValueError("finding-kind weights must not all be 0")
    return out


def check_add(add: dict[str, float] | None) -> dict[str, float]:
    """``add``'s kinds must be known and its probabilities in [0, 1]."""
    _check_kinds(add)
    if any(not 0 <= p <= 1 for p in (add or {}).values()):
        raise ValueError("added-finding probabilities must be in [0, 1]")
    return dict(add or {})


def sample_findings(
    rng: np.random.Generator,
    normal_fraction: float = 0.3,
    weights: dict[str, float] | None = None,
    add: dict[str, float] | None = None,
) -> list[FindingSpec]:
    """0-3 findings (or none, ``normal_fraction`` of the time); ``weights`` override ``_KIND_WEIGHTS``.

    ``add`` then gives every case, normal or not, each listed kind with its own probability,
    independent of the rest. Raising a kind's weight instead makes it crowd the others out (a case
    draws at most three): a nodule-rich set drawn that way has half as many nodules beside an
    effusion as chance would give, and an encoder trained on it learns that an effusion argues
    against a nodule.
    """
    chosen = [] if rng.random() < normal_fraction else _draw_kinds(rng, weights)
    for kind, p in check_add(add).items():
        if rng.random() < p and kind not in chosen:
            chosen.append(kind)
    if "nodule" in chosen and "mass" in chosen:
        chosen.remove("mass")
    taken: dict[str, str] = {}
    out = []
    for kind in chosen:
        f = _finding(rng, str(kind), taken)
        taken[f.kind] = f.side
        out.append(f)
    return out


def sample_case(
    case_id: str,
    seed: int,
    ap_fraction: float = 0.0,
    normal_fraction: float = 0.3,
    weights: dict[str, float] | None = None,
    add: dict[str, float] | None = None,
    look: Look = LOOKS["plain"],
    patient: Patient = PATIENTS["fixed"],
) -> CaseSpec:
    """Everything random about a case, drawn from ``seed`` alone (the look and patient from their own streams)."""
    rng = np.random.default_rng(seed)
    ap = bool(rng.random() < ap_fraction)
    geometry = Geometry(
        view="AP" if ap else "PA",
        sid_mm=float(rng.uniform(950, 1100) if ap else rng.uniform(1700, 1850)),
        pixel_mm=float(rng.uniform(0.315, 0.335)),
        yaw_deg=float(rng.normal(0, 2.0)),
        tilt_deg=float(rng.normal(0, 2.0)),
        roll_deg=float(rng.normal(0, 1.2)),
        shift_mm=(float(rng.normal(0, 6)), float(rng.normal(0, 4))),
    )
    exposure = Exposure(
        photons=float(rng.uniform(3000, 12000)),
        scatter=float(rng.uniform(0.25, 0.45)),
        blur_px=float(rng.uniform(0.5, 1.0)),
        compress=float(rng.uniform(0.4, 0.65)),
        edge_gain=float(rng.uniform(0.6, 1.1)),
    )
    bone_gain, gamma = float(rng.uniform(2.1, 2.7)), float(rng.uniform(1.35, 1.65))
    findings = sample_findings(rng, normal_fraction, weights, add)
    who = draw_patient(patient, seed, geometry.view)
    if who.yaw_deg:
        geometry = replace(geometry, yaw_deg=geometry.yaw_deg + who.yaw_deg)
    # more tissue scatters more; the portable film has fewer quanta and no air gap or grid to spare
    scatter = exposure.scatter * (0.7 + 0.3 * who.habitus) * (1.25 if who.portable else 1.0)
    if not who.fixed:
        exposure = replace(
            exposure, scatter=scatter, photons=exposure.photons * (0.6 if who.portable else 1.0)
        )
    return CaseSpec(
        case_id, seed, geometry, exposure, bone_gain=bone_gain, gamma=gamma, findings=findings, look=look,
        patient=who,
    )  # fmt: skip


# --------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=1)
def get_renderer() -> Renderer:
    """The process's renderer (building one costs seconds: the CT is summed into slabs)."""
    return Renderer()


class Renderer:
    """Per-process state: the anatomy, the CT's attenuation slabs and the anatomy's mask slabs."""

    def __init__(self) -> None:
        self.anat = L.load_anatomy()
        ph = self.anat.phantom
        sp = np.asarray(ph.spacing)
        hu = np.asarray(ph.hu)
        ys = np.nonzero((hu[::4, :, ::4] > -900).any(axis=(0, 2)))[0]
        self.edges = SlabStack.even_edges(int(ys.min()), int(ys.max()) + 1, N_SLABS)
        soft = MU_WATER * (1.0 + np.minimum(hu, 0).astype(np.float32) / 1000.0)
        self.soft = SlabStack.from_volume(soft, ph.spacing, self.edges)
        del soft
        bone = MU_WATER * np.maximum(hu, 0).astype(np.float32) / 1000.0
        self.bone = SlabStack.from_volume(bone, ph.spacing, self.edges)
        del bone
        lb = ph.box(*LOBES)
        lo = np.array([s.start for s in lb]) * sp
        hi = np.array([s.stop - 1 for s in lb]) * sp
        self.lung_top_mm = float(hi[2])
        self.ct_top_mm = (ph.shape[2] - 1) * sp[2]
        self.scene_base = ((lo + hi) / 2, float(ys.max() * sp[1]), float(ys.min() * sp[1]))
        self.ct_bottom_mm = 0.0
        stacks = {n: ph.mask(n) for n in [*LOBES, "heart"]}
        stacks["abdomen"] = ph.mask("liver", "spleen", "stomach")
        # masks only need ~1 mm accuracy: fewer, thicker slabs make their projections 3x cheaper
        self.mask_edges = SlabStack.even_edges(int(ys.min()), int(ys.max()) + 1, N_MASK_SLABS)
        self.mask_stacks = {
            n: SlabStack.from_volume(m, ph.spacing, self.mask_edges) for n, m in stacks.items()
        }
        for st in self.mask_stacks.values():  # e.g. the heart fills only the front slabs
            st.empty = ~st.sums.any(axis=(1, 2))

    def scene(self, g: Geometry) -> Scene:
        """Beam centred on the lungs, moved if needed so the field stays inside the CT's slices."""
        c, ant, post = self.scene_base
        probe = CTProjector(g, Scene(tuple(c), ant, post), self.anat.phantom.spacing)
        m = float(probe.magnification(c[1]))
        half = g.rows * g.pixel_mm / 2 / m + abs(g.shift_mm[1]) / m + 3.0
        hi, lo = self.ct_top_mm - half, self.ct_bottom_mm + half
        zc = float(np.clip(c[2], lo, hi)) if lo <= hi else (self.ct_top_mm + self.ct_bottom_mm) / 2
        return Scene((float(c[0]), float(c[1]), zc), ant, post)

    def render(self, spec: CaseSpec, scale: float = 1.0) -> RenderedCase:
        g = spec.geometry.scaled(scale) if scale != 1.0 else spec.geometry
        rng = np.random.default_rng([spec.seed, 1])
        ph = self.anat.phantom
        hu = np.array(ph.hu)  # working copy the injectors edit
        stack = SlabStack(self.soft.sums + spec.bone_gain * self.bone.sums, self.edges, ph.spacing)
        lesions: list[L.Lesion] = []
        who = spec.patient
        # a child's heart is relatively larger: the same enlargement as a cardiomegaly, not a finding
        own_heart = who.heart_scale > 1 and not any(f.kind == "cardiomegaly" for f in spec.findings)
        heart = [FindingSpec("cardiomegaly", severity="mild", scale=who.heart_scale)] if own_heart else []
        for f in [*spec.findings, *heart]:
            before = {}
            lesion = self._inject(rng, hu, f, before)
            box = tuple(slice(o, o + n) for o, n in zip(lesion.origin, lesion.region.shape, strict=True))
            old, new = before["hu"], hu[box]
            changed = ndimage.find_objects((old != new).astype(np.uint8))
            if changed and changed[0] is not None:  # only the voxels that changed need projecting
                sub = changed[0]
                delta = _mu(new[sub], spec.bone_gain) - _mu(old[sub], spec.bone_gain)
                stack.add_box(delta, tuple(o + s.start for o, s in zip(lesion.origin, sub, strict=True)))
            lesions.append(lesion)
        projector = CTProjector(g, self.scene(g), ph.spacing)
        line = projector.project(stack)
        k = MASK_FACTOR if g.rows % MASK_FACTOR == 0 and g.cols % MASK_FACTOR == 0 else 1
        mg = replace(g, rows=g.rows // k, cols=g.cols // k, pixel_mm=g.pixel_mm * k)
        mproj = CTProjector(mg, projector.scene, ph.spacing)  # same mm field, coarser pixels
        anatomy = {n: self._mask(mproj, s, g, smooth=False) for n, s in self.mask_stacks.items()}
        if own_heart:
            grown = SlabStack.of_box(
                lesions[-1].region.astype(np.float32), lesions[-1].origin, self.mask_stacks["heart"]
            )
            anatomy["heart"] = anatomy["heart"] | self._mask(mproj, grown, g)
            lesions = lesions[: len(spec.findings)]
        apex = float(
            projector.to_pixels(np.array([projector.scene.center_mm[:2] + (self.lung_top_mm,)]))[0, 1]
        )
        warp = Warp(line.shape, apex, who.child_scale, who.inspiration)
        if not who.fixed:
            line = warp.image(line)
            anatomy = {n: warp.mask(m) for n, m in anatomy.items()}
            prng = np.random.default_rng([spec.seed, 5])
            shown = {**anatomy, "lung_right": anatomy["RUL"] | anatomy["RML"] | anatomy["RLL"]}
            shown["lung_left"] = anatomy["LUL"] | anatomy["LLL"]
            line = line + soft_tissue(line.shape, shown, who, g.pixel_mm, prng)
            if who.devices:
                line = line + devices(line.shape, shown, who, g.pixel_mm, prng)
            line = np.maximum(line, 0.0)
            for lesion in lesions:
                lesion.size_mm *= who.child_scale
        # The beam's quanta are per area: a smaller render's coarser pixels each collect more of
        # them, so it is as noisy as the full-size film averaged down, not pitch-ratio times noisier.
        area = (g.pixel_mm / spec.geometry.pixel_mm) ** 2
        image = expose(line, replace(spec.exposure, photons=spec.exposure.photons * area), g.pixel_mm, rng)
        image, look = apply_look(image, spec.look, spec.seed, g.pixel_mm, g.view)
        pixels = to_stored(image, 12, spec.gamma)
        anatomy["lung_right"] = anatomy["RUL"] | anatomy["RML"] | anatomy["RLL"]
        anatomy["lung_left"] = anatomy["LUL"] | anatomy["LLL"]
        anatomy["below_diaphragm"] = below_diaphragm(anatomy["abdomen"])
        field_ = (anatomy["lung_right"] | anatomy["lung_left"]) & ~anatomy["below_diaphragm"]
        findings = []
        for f, lesion in zip(spec.findings, lesions, strict=True):
            ls = SlabStack.of_box(lesion.region.astype(np.float32), lesion.origin, self.mask_stacks["heart"])
            mask = warp.mask(self._mask(mproj, ls, g))
            if f.kind == "cardiomegaly":
                anatomy["heart"] = anatomy["heart"] | mask
                mask = anatomy["heart"].copy()
            elif f.kind == "pneumothorax":  # where the retracted lung no longer reaches, above the abdomen
                mask = _open(anatomy[f"lung_{f.side}"] & ~mask & field_, 3 * g.rows / 1024)
            elif f.kind in ("effusion", "consolidation", "atelectasis", "edema"):
                seen = mask & field_  # the part projected over lung, not over the abdomen
                if seen.sum() >= (0.0 if f.kind == "effusion" else 0.25) * mask.sum() and seen.any():
                    mask = _open(seen, 2 * g.rows / 1024)
            mask = _main_parts(mask)
            findings.append(TruthFinding(f, lesion, mask, _ellipses(mask)))
        ctr = cardiothoracic_ratio(anatomy)
        for tf in findings:
            if tf.spec.kind == "cardiomegaly":
                tf.lesion.extra["ctr"] = ctr
        labels = chexpert_labels([tf.spec.kind for tf in findings], who.devices)
        mag = float(projector.magnification(projector.scene.center_mm[1]))
        return RenderedCase(spec, pixels, findings, anatomy, ctr, labels, mag, g, look, who.notes())

    def _inject(self, rng, hu, f: FindingSpec, before: dict) -> L.Lesion:
        # the injectors edit ``hu`` in place inside their box; keep the box's old values first
        anat = self.anat
        saved = _Saver(hu)
        if f.kind in ("nodule", "mass"):
            lesion = L.nodule(rng, anat, saved, f.lobe, f.size_mm, f.kind, f.subtle)
        elif f.kind == "consolidation":
            lesion = L.consolidation(rng, anat, saved, f.lobe, f.severity, f.subtle)
        elif f.kind == "effusion":
            lesion = L.effusion(rng, anat, saved, f.side, f.severity, f.subtle)
        elif f.kind == "pneumothorax":
            lesion = L.pneumothorax(rng, anat, saved, f.side, f.severity, f.subtle)
        elif f.kind == "cardiomegaly":
            lesion = L.cardiomegaly(rng, anat, saved, f.scale, f.severity)
        elif f.kind == "atelectasis":
            lesion = L.atelectasis(rng, anat, saved, f.side, f.severity, f.subtle)
        elif f.kind == "edema":
            lesion = L.edema(rng, anat, saved, f.severity, f.subtle)
        else:
            raise ValueError(f"unknown finding kind {f.kind!r}")
        box = tuple(slice(o, o + n) for o, n in zip(lesion.origin, lesion.region.shape, strict=True))
        before["hu"] = saved.original(box)
        return lesion

    def _mask(self, proj: CTProjector, stack: SlabStack, g: Geometry, smooth: bool = True) -> np.ndarray:
        """Projected mask: more than 1 mm of the structure along the ray.

        Computed on the coarse detector; ``smooth`` upsamples the path lengths bilinearly before the
        threshold (smooth outlines, for findings), otherwise the thresholded mask is repeated up
        (1.3 mm steps, ~50x cheaper: the lobes and heart).
        """
        small = proj.project(stack, order=1)
        fy, fx = g.rows / small.shape[0], g.cols / small.shape[1]
        if not smooth and float(fy).is_integer() and float(fx).is_integer():
            big = np.repeat(np.repeat(small > 1.0, int(fy), axis=0), int(fx), axis=1)
            return big[: g.rows, : g.cols]
        big = ndimage.zoom(small, (fy, fx), order=1, grid_mode=True, mode="nearest")
        return big[: g.rows, : g.cols] > 1.0


class _Saver:
    """Wraps the working HU array: remembers each box's values before its first write."""

    def __init__(self, hu: np.ndarray) -> None:
        self.hu = hu
        self.shape = hu.shape
        self._saved: list[tuple[tuple[slice, ...], np.ndarray]] = []

    def __getitem__(self, box):
        return self.hu[box]

    def __setitem__(self, box, value) -> None:
        self._saved.append((box, self.hu[box].copy()))
        self.hu[box] = value

    def original(self, box: tuple[slice, ...]) -> np.ndarray:
        out = self.hu[box].copy()
        for saved_box, values in reversed(self._saved):
            inter = tuple(
                slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(box, saved_box, strict=True)
            )
            if all(s.start < s.stop for s in inter):
                dst = tuple(
                    slice(s.start - b.start, s.stop - b.start) for s, b in zip(inter, box, strict=True)
                )
                src = tuple(
                    slice(s.start - b.start, s.stop - b.start) for s, b in zip(inter, saved_box, strict=True)
                )
                out[dst] = values[src]
        return out


def _mu(hu: np.ndarray, bone_gain: float) -> np.ndarray:
    h = hu.astype(np.float32)
    h[h > 0] *= bone_gain
    h *= MU_WATER / 1000.0
    h += MU_WATER
    return h


def _open(mask: np.ndarray, iterations: float) -> np.ndarray:
    """Binary opening scaled to the image size, never opening a mask away entirely."""
    n = int(round(iterations))
    if n < 1:
        return mask
    opened = ndimage.binary_opening(mask, iterations=n)
    return opened if opened.any() else mask


def _main_parts(mask: np.ndarray, min_fraction: float = 0.1) -> np.ndarray:
    """Drop connected parts smaller than ``min_fraction`` of the largest (projection crumbs)."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = sizes >= min_fraction * sizes.max()
    return keep[lab]


def _ellipses(mask: np.ndarray, min_fraction: float = 0.08) -> list[Ellipse]:
    """One axis-aligned ellipse per sizeable connected part of a mask (bounding-box convention)."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return [Ellipse(0, 0, 0, 0)]
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    keep = [i + 1 for i in range(n) if sizes[i] >= min_fraction * sizes.max()]
    out = []
    objs = ndimage.find_objects(lab)
    for i in keep:
        ys, xs = objs[i - 1]
        out.append(Ellipse(float(xs.start), float(ys.start), float(xs.stop), float(ys.stop)))
    return out


def below_diaphragm(abdomen: np.ndarray) -> np.ndarray:
    """Everything under the hemidiaphragms' silhouette: per column, from the top of the projected
    upper-abdominal organs down (columns without them take the nearest columns' level)."""
    h, w = abdomen.shape
    has = abdomen.any(axis=0)
    if not has.any():
        return np.zeros_like(abdomen)
    cols = np.nonzero(has)[0]
    top = np.interp(np.arange(w), cols, abdomen[:, cols].argmax(axis=0))
    return np.arange(h)[:, None] >= top[None, :]


def cardiothoracic_ratio(anatomy: dict[str, np.ndarray]) -> float:
    """Maximal transverse heart width over maximal inner thoracic width (lungs' outer margins)."""
    heart_cols = np.nonzero(anatomy["heart"].any(axis=0))[0]
    lungs = anatomy["lung_right"] | anatomy["lung_left"]
    lung_cols = np.nonzero(lungs.any(axis=0))[0]
    if len(heart_cols) == 0 or len(lung_cols) == 0:
        return math.nan
    return float((heart_cols.max() - heart_cols.min() + 1) / (lung_cols.max() - lung_cols.min() + 1))


def chexpert_labels(kinds: list[str], devices: tuple[str, ...] | list[str] = ()) -> dict[str, int]:
    """CheXpert-14 labels from the injected kinds and drawn devices.

    No Finding = 1 only when no finding was injected; as in CheXpert, a device is not a finding.
    """
    labels = dict.fromkeys(CHEXPERT_OBSERVATIONS, 0)
    for kind in kinds:
        for name, value in L.KIND_LABELS[kind].items():
            if value == 1 or labels[name] == 0:
                labels[name] = value if labels[name] != 1 else 1
    labels["No Finding"] = 0 if kinds else 1
    if any(d in LABELLED_DEVICES for d in devices):  # ECG leads alone are not one (CheXpert)
        labels["Support Devices"] = 1
    return labels
