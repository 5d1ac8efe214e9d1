"""Simulated radiologists: a search plan over the anatomy, fixations on it, then raw 250 Hz gaze.

A reader has a style (systematic: lungs top-down right/left, heart, mediastinum and hila,
costophrenic angles, diaphragm, bones; or free: an overview then regions in a loose order), a pace
(fixation durations), and a sensitivity for subtle findings. Findings the reader detects get a
dwell (several long fixations) and revisits at the end; a missed subtle finding at most gets a
glance, and the reader's report (see ``reports``) leaves it out.

Raw samples follow the fixations with slow drift and tremor, saccades between them follow the
main sequence (duration 21 ms + 2.2 ms/deg; minimum-jerk profile, so peak velocity grows with
amplitude and saturates near 500 deg/s), and blinks are gaps (NaN) of 100–300 ms. Everything
is in image pixels and seconds (the REFLACX convention); degrees come from ``pixels_per_degree``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ml.types import Fixation, Scanpath, ScanpathSource

SAMPLE_RATE_HZ = 250.0


@dataclass(frozen=True)
class ReaderProfile:
    name: str
    style: str  # systematic | free
    fixation_ms: float  # mean fixation duration
    fixations_per_region: float
    sensitivity: float  # probability of detecting a subtle finding (obvious ones: always)
    revisits: int  # max revisits of each detected finding at the end
    order: str = "compare"  # key of SEARCH_ORDERS (systematic readers)
    tremor_deg: float = 0.03
    drift_deg_s: float = 0.25


READERS: tuple[ReaderProfile, ...] = (
    ReaderProfile(
        "R1", "systematic", 260.0, 3.0, 0.85, 2, order="lungs"
    ),  # thorough, one lung then the other
    ReaderProfile("R2", "free", 210.0, 2.0, 0.45, 1),  # fast, gestalt-driven: misses subtle ones
    ReaderProfile("R3", "systematic", 330.0, 4.0, 0.7, 3, order="compare"),  # slow, compares sides, revisits
)


@dataclass(frozen=True)
class Display:
    """How the image was shown: whole image scaled into a screen rectangle, at a viewing distance."""

    screen_rect: tuple[float, float, float, float] = (448.0, 28.0, 1472.0, 1052.0)  # on a 1920x1080 screen
    screen_ppd: float = 38.8  # screen pixels per degree (0.27 mm pitch at 60 cm)

    def image_ppd(self, image_size: tuple[int, int]) -> float:
        """Image pixels per degree of visual angle."""
        w, _ = image_size
        return self.screen_ppd * w / (self.screen_rect[2] - self.screen_rect[0])


@dataclass
class Reading:
    """One simulated reading of one image."""

    reader: ReaderProfile
    fixations: list[Fixation]
    t: np.ndarray  # samples: seconds from the start
    x: np.ndarray  # image pixels, NaN during blinks
    y: np.ndarray
    pupil: np.ndarray
    detected: list[int]  # indices of the case's findings this reader saw
    ppd: float
    image_size: tuple[int, int]
    regions: list[str] = field(default_factory=list)  # the region each fixation belongs to

    def scanpath(self) -> Scanpath:
        return Scanpath(list(self.fixations), self.image_size, ScanpathSource.SIMULATED, self.reader.name)


# --------------------------------------------------------------------------- regions


def _sample_in(
    mask: np.ndarray, rng: np.random.Generator, n: int, fallback: tuple[float, float]
) -> np.ndarray:
    ys, xs = np.nonzero(mask[::4, ::4])
    if len(xs) == 0:
        return np.tile(np.array(fallback, dtype=float), (n, 1))
    i = rng.integers(len(xs), size=n)
    return np.stack([xs[i] * 4 + rng.uniform(0, 4, n), ys[i] * 4 + rng.uniform(0, 4, n)], axis=1)


def anatomical_regions(anatomy: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Search regions (bool masks, image pixels) from the projected anatomy.

    Lung zones are thirds of each lung *field* (the lung as the film shows it: not behind the heart
    or the upper abdomen); a costophrenic angle is the lowest point of the field's lateral third.
    """
    out: dict[str, np.ndarray] = {}
    h, w = anatomy["heart"].shape
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    abdomen = anatomy.get("below_diaphragm", anatomy.get("abdomen", np.zeros_like(anatomy["heart"])))
    for side in ("right", "left"):
        lung = anatomy[f"lung_{side}"] & ~anatomy["heart"] & ~abdomen
        ys = np.nonzero(lung.any(axis=1))[0]
        xs = np.nonzero(lung.any(axis=0))[0]
        if len(ys) == 0:
            continue
        cuts = np.linspace(ys.min(), ys.max() + 1, 4)
        for name, a, b in zip(("upper", "mid", "lower"), cuts[:-1], cuts[1:], strict=True):
            out[f"{side} {name} zone"] = lung & (rows >= a) & (rows < b)
        third = (xs.max() - xs.min()) / 3
        outer = (cols < xs.min() + third) if side == "right" else (cols > xs.max() - third)
        lat = lung & outer
        ly = np.nonzero(lat.any(axis=1))[0]
        if len(ly):
            cy = int(ly.max())
            cx = float(np.nonzero(lat[cy])[0].mean())
            out[f"{side} costophrenic angle"] = (np.hypot(cols - cx, rows - cy) < 0.04 * w) & (
                rows <= cy + 0.01 * h
            )
    heart = anatomy["heart"]
    out["heart"] = heart
    hy = np.nonzero(heart.any(axis=1))[0]
    hx = np.nonzero(heart.any(axis=0))[0]
    if len(hy):
        lungs = anatomy["lung_right"] | anatomy["lung_left"]
        ly = np.nonzero(lungs.any(axis=1))[0]
        mid = (hx.min() + hx.max()) / 2
        out["mediastinum"] = (
            (np.abs(cols - mid) < 0.08 * w)
            & (rows > ly.min())
            & (rows < hy.min() + 0.15 * (hy.max() - hy.min()))
        )
        out["hila"] = (np.abs(rows - (hy.min() - 0.02 * h)) < 0.06 * h) & (
            np.abs(np.abs(cols - mid) - 0.14 * w) < 0.05 * w
        )
        out["diaphragm"] = (np.abs(rows - (hy.max() + 0.01 * h)) < 0.04 * h) & (np.abs(cols - mid) < 0.33 * w)
        out["bones"] = ((rows < ly.min() + 0.1 * h) & (np.abs(cols - mid) < 0.35 * w)) | (
            (np.abs(np.abs(cols - mid) - 0.4 * w) < 0.05 * w) & (rows > ly.min()) & (rows < hy.max())
        )
    return out


#: Search orders: ``compare`` alternates sides zone by zone, ``lungs`` reads one lung top-down then the other.
SEARCH_ORDERS: dict[str, tuple[str, ...]] = {
    "compare": (
        "right upper zone", "left upper zone", "right mid zone", "left mid zone", "right lower zone",
        "left lower zone", "heart", "mediastinum", "hila", "right costophrenic angle",
        "left costophrenic angle", "diaphragm", "bones",
    ),
    "lungs": (
        "right upper zone", "right mid zone", "right lower zone", "right costophrenic angle",
        "left upper zone", "left mid zone", "left lower zone", "left costophrenic angle",
        "heart", "mediastinum", "hila", "diaphragm", "bones",
    ),
}  # fmt: skip
SYSTEMATIC_ORDER = SEARCH_ORDERS["compare"]


def _chain(points: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Order points as a greedy nearest-neighbour walk from ``start`` (how eyes sweep a region)."""
    left = list(range(len(points)))
    out, cur = [], start
    while left:
        j = min(left, key=lambda k: float(np.hypot(*(points[k] - cur))))
        left.remove(j)
        out.append(j)
        cur = points[j]
    return points[out]


# --------------------------------------------------------------------------- planning


@dataclass
class _Target:
    x: float
    y: float
    duration: float
    region: str


def plan_fixations(
    rng: np.random.Generator,
    reader: ReaderProfile,
    regions: dict[str, np.ndarray],
    findings: list[tuple[np.ndarray, tuple[float, float], bool]],
    image_size: tuple[int, int],
) -> tuple[list[_Target], list[int]]:
    """Where and how long the reader looks. ``findings``: (mask, centre, subtle) per finding."""
    w, h = image_size
    detected = [
        i for i, (_, _, subtle) in enumerate(findings) if not subtle or rng.random() < reader.sensitivity
    ]

    def dur(scale: float = 1.0) -> float:
        m = reader.fixation_ms * scale / 1000.0
        return float(np.clip(rng.gamma(4.0, m / 4.0), 0.08, 2.5))

    order = [r for r in SEARCH_ORDERS[reader.order] if r in regions]
    if reader.style == "free":
        order = list(rng.permutation(order))
        # a gestalt reader looks at the heart and the obvious abnormality early
        order.remove("heart")
        order.insert(int(rng.integers(0, 3)), "heart")
    targets = [
        _Target(w / 2 + rng.normal(0, w * 0.03), h * 0.45 + rng.normal(0, h * 0.03), dur(1.2), "overview")
    ]
    if reader.style == "free":
        thorax = np.zeros((h, w), bool)
        for name, m in regions.items():
            if name.endswith("zone") or name == "heart":
                thorax |= m
        for p in _sample_in(thorax, rng, 3, (w / 2, h / 2)):
            targets.append(_Target(float(p[0]), float(p[1]), dur(), "overview"))
    seen: set[int] = set()
    for name in order:
        mask = regions[name]
        n = max(1, int(rng.poisson(reader.fixations_per_region)))
        pts = _sample_in(mask, rng, n, (w / 2, h / 2))
        pts = _chain(pts, np.array([targets[-1].x, targets[-1].y]))
        for p in pts:
            targets.append(_Target(float(p[0]), float(p[1]), dur(), name))
        for i in detected:  # dwell on a detected finding when the search reaches its region
            fmask, (cx, cy), _ = findings[i]
            if i in seen or not (mask & fmask).any():
                continue
            seen.add(i)
            k = 3 + int(rng.integers(0, 4))
            pts = _chain(_sample_in(fmask, rng, k, (cx, cy)), np.array([targets[-1].x, targets[-1].y]))
            for p in pts:
                targets.append(_Target(float(p[0]), float(p[1]), dur(1.6), f"finding {i}"))
        for i, (fmask, (cx, cy), _subtle) in enumerate(findings):  # a glance at a missed one, sometimes
            if i not in detected and i not in seen and (mask & fmask).any() and rng.random() < 0.4:
                seen.add(i)
                targets.append(_Target(cx + rng.normal(0, 15), cy + rng.normal(0, 15), dur(0.8), name))
    for i in detected:
        if i not in seen:  # e.g. a finding outside every region: found on the final survey
            fmask, (cx, cy), _ = findings[i]
            for p in _sample_in(fmask, rng, 3, (cx, cy)):
                targets.append(_Target(float(p[0]), float(p[1]), dur(1.5), f"finding {i}"))
    for _ in range(reader.revisits):
        for i in detected:
            if rng.random() < 0.7:
                fmask, (cx, cy), _ = findings[i]
                for p in _sample_in(fmask, rng, 1 + int(rng.integers(0, 2)), (cx, cy)):
                    targets.append(_Target(float(p[0]), float(p[1]), dur(1.3), f"finding {i}"))
    for t in targets:
        t.x = float(np.clip(t.x, 1, w - 2))
        t.y = float(np.clip(t.y, 1, h - 2))
    return targets, detected


# --------------------------------------------------------------------------- samples


def _saccade_duration(amplitude_deg: float) -> float:
    """Main sequence: duration grows linearly with amplitude (Carpenter 1988)."""
    return (21.0 + 2.2 * amplitude_deg) / 1000.0


def simulate_samples(
    rng: np.random.Generator,
    reader: ReaderProfile,
    targets: list[_Target],
    ppd: float,
    image_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Fixation]]:
    """250 Hz samples (t, x, y, pupil) and the fixations as the samples realise them."""
    dt = 1.0 / SAMPLE_RATE_HZ
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    fix_spans: list[tuple[int, int]] = []
    n_total = 0
    prev = np.array([targets[0].x, targets[0].y])
    for j, tg in enumerate(targets):
        goal = np.array([tg.x, tg.y]) + rng.normal(0, 0.15 * ppd, 2)  # landing error
        if j > 0:
            amp = float(np.hypot(*(goal - prev))) / ppd
            n = max(2, int(round(_saccade_duration(amp) / dt)))
            tau = np.arange(1, n + 1) / n
            s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5  # minimum-jerk profile
            path = prev[None, :] + s[:, None] * (goal - prev)[None, :]
            xs.append(path[:, 0])
            ys.append(path[:, 1])
            n_total += n
        n = max(3, int(round(tg.duration / dt)))
        drift = np.cumsum(rng.normal(0, reader.drift_deg_s * ppd * math.sqrt(dt), (n, 2)), axis=0)
        tremor = rng.normal(0, reader.tremor_deg * ppd, (n, 2))
        pos = goal[None, :] + drift + tremor
        xs.append(pos[:, 0])
        ys.append(pos[:, 1])
        fix_spans.append((n_total, n_total + n))
        n_total += n
        prev = pos[-1]
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    t = np.arange(n_total) * dt
    pupil = 0.5 + 0.05 * np.cumsum(rng.normal(0, 0.02, n_total)) / math.sqrt(max(n_total, 1)) * 10
    pupil = np.clip(pupil + rng.normal(0, 0.005, n_total), 0.2, 0.9)
    w, h = image_size
    valid = np.ones(n_total, dtype=bool)
    tb = float(rng.uniform(1.5, 5.0))
    while tb < t[-1]:  # blinks: gaps with no position
        a = int(tb / dt)
        b = min(n_total, a + int(rng.uniform(0.1, 0.3) / dt))
        valid[a:b] = False
        tb += float(rng.uniform(2.5, 6.0))
    x = np.where(valid, np.clip(x, 0, w - 1), np.nan)
    y = np.where(valid, np.clip(y, 0, h - 1), np.nan)
    pupil = np.where(valid, pupil, np.nan)
    fixations = []
    for a, b in fix_spans:
        ok = valid[a:b]
        if ok.sum() < 15:
            continue  # a blink left less than 60 ms of it: no fixation (as a detector would say)
        idx = np.nonzero(ok)[0] + a
        fixations.append(
            Fixation(
                float(x[idx].mean()),
                float(y[idx].mean()),
                float(t[idx[0]]),
                float(t[idx[-1]] + dt),
                float(pupil[idx].mean()),
            )
        )
    return t, x, y, pupil, fixations


def read_case(
    rng: np.random.Generator,
    reader: ReaderProfile,
    anatomy: dict[str, np.ndarray],
    findings: list[tuple[np.ndarray, tuple[float, float], bool]],
    image_size: tuple[int, int],
    display: Display | None = None,
) -> Reading:
    """One reader reads one image: plan, then samples, then the fixations they realise."""
    display = display or Display()
    ppd = display.image_ppd(image_size)
    regions = anatomical_regions(anatomy)
    targets, detected = plan_fixations(rng, reader, regions, findings, image_size)
    t, x, y, pupil, fixations = simulate_samples(rng, reader, targets, ppd, image_size)
    return Reading(
        reader, fixations, t, x, y, pupil, detected, ppd, image_size, [tg.region for tg in targets]
    )
