"""Domain types shared by every layer: plain dataclasses, no torch, no Qt.

Contracts (docs/ARCHITECTURE.md):
- Image coordinates are pixels, origin top-left, x to the right, y down.
- Scanpath fixations are in image pixels, times and durations in seconds.
- Raw gaze samples are in screen pixels with monotonic microsecond timestamps.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The 14 CheXpert observations, spelled exactly as CheXpert spells them.
CHEXPERT_OBSERVATIONS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)


@dataclass(frozen=True)
class Window:
    """A VOI window (DICOM C.11.2.1.2): centre and width in modality units."""

    center: float
    width: float
    name: str = ""

    @property
    def low(self) -> float:
        return self.center - self.width / 2.0

    @property
    def high(self) -> float:
        return self.center + self.width / 2.0


@dataclass
class Image:
    """A projection radiograph as stored: modality values plus how to display them.

    ``pixels`` holds modality values (after Rescale Slope/Intercept or the Modality LUT),
    2-D, shape (rows, columns). The VOI transform is kept separate (``windows``/``voi_lut``)
    so a viewer can window/level through display levels without recomputing the image.
    ``invert`` is True for MONOCHROME1: applied *after* VOI, as PS3.3 C.7.6.3.1.2 says.
    """

    pixels: np.ndarray
    spacing: tuple[float, float] | None = None  # (row, column) mm per pixel
    windows: list[Window] = field(default_factory=list)
    voi_lut: np.ndarray | None = None  # VOI LUT output indexed by (value - first_mapped)
    voi_lut_first_mapped: int = 0
    invert: bool = False
    laterality: str = ""
    view_position: str = ""  # PA, AP, LL ...
    photometric: str = "MONOCHROME2"
    bits_stored: int = 8
    source: str = ""  # path or description
    study_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, the order screen and scanpath code uses."""
        return self.width, self.height

    def default_window(self) -> Window:
        """The file's first window, else a robust 0.5–99.5 percentile window."""
        if self.windows:
            return self.windows[0]
        sample = self.pixels[:: max(1, self.height // 512), :: max(1, self.width // 512)]
        lo, hi = np.percentile(sample, [0.5, 99.5])
        if hi <= lo:
            hi = lo + 1.0
        return Window(center=float(lo + hi) / 2.0, width=float(hi - lo), name="Auto")

    def display(self, window: Window | None = None) -> np.ndarray:
        """8-bit display image (VOI, then MONOCHROME1 inversion): for thumbnails and model input."""
        if self.voi_lut is not None and window is None:
            idx = np.clip(self.pixels.astype(np.int64) - self.voi_lut_first_mapped, 0, len(self.voi_lut) - 1)
            out = self.voi_lut[idx].astype(np.float32)
            lo, hi = float(self.voi_lut.min()), float(self.voi_lut.max())
            out = (out - lo) / max(hi - lo, 1e-6)
        else:
            w = window or self.default_window()
            out = (self.pixels.astype(np.float32) - w.low) / max(w.width, 1e-6)
        out = np.clip(out, 0.0, 1.0)
        if self.invert:
            out = 1.0 - out
        return (out * 255.0 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class GazeSample:
    """One raw tracker sample in screen pixels; invalid samples (blinks, lost eyes) have valid=False."""

    t_us: int  # monotonic microseconds (the tracker's system clock when a tracker is used)
    x: float
    y: float
    valid: bool = True
    pupil_mm: float = float("nan")
    device_t_us: int = 0


@dataclass(frozen=True)
class Fixation:
    """A fixation in image pixels with start/end in seconds from the start of the reading."""

    x: float
    y: float
    start: float
    end: float
    pupil: float = float("nan")

    @property
    def duration(self) -> float:
        return self.end - self.start


class Vocabulary(str, enum.Enum):
    """Base of the project's vocabularies: one str-valued ``Enum`` per set of words.

    A member *is* its spelling (``GazeMode.PREDICTED == "predicted"``, hashes alike, prints as
    ``predicted``), so JSON, SQLite and HTTP keep the words they always had. The constructor is the
    parser at the edges: ``GazeMode(value)`` takes a member or its spelling and refuses anything
    else with a one-line ``ValueError`` that lists the words it knows.
    """

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _missing_(cls, value: object) -> Vocabulary:
        words = re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()
        known = ", ".join(m.value for m in cls)
        raise ValueError(f"Unknown {words} {value!r} (one of {known}).")

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The spellings, in definition order (for argparse ``choices`` and messages)."""
        return tuple(m.value for m in cls)


class ScanpathSource(Vocabulary):
    RECORDED = "recorded"  # a real reader (tracker or mouse session, REFLACX, EGD-CXR)
    SIMULATED = "simulated"  # a simulated cohort reader
    PREDICTED = "predicted"  # the scanpath predictor


@dataclass
class Scanpath:
    """An ordered list of fixations over one image (image pixels, seconds)."""

    fixations: list[Fixation]
    image_size: tuple[int, int]  # (width, height) in pixels
    source: ScanpathSource = ScanpathSource.RECORDED
    reader: str = ""

    def __len__(self) -> int:
        return len(self.fixations)

    def as_array(self) -> np.ndarray:
        """(N, 3) float array of x, y, duration."""
        if not self.fixations:
            return np.zeros((0, 3), dtype=np.float64)
        return np.array([(f.x, f.y, f.duration) for f in self.fixations], dtype=np.float64)

    @classmethod
    def from_array(
        cls,
        xyd: np.ndarray,
        image_size: tuple[int, int],
        source: ScanpathSource = ScanpathSource.PREDICTED,
        reader: str = "",
    ) -> Scanpath:
        """Build from (N, 3) x, y, duration rows; fixations are laid end to end in time."""
        fixations, t = [], 0.0
        for x, y, d in np.asarray(xyd, dtype=np.float64).reshape(-1, 3):
            fixations.append(Fixation(float(x), float(y), t, t + float(d)))
            t += float(d)
        return cls(fixations, image_size, source, reader)


class AnnotationShape(Vocabulary):
    """How a finding is drawn on the image (``Finding.shape``, the store's ``annotations.shape``)."""

    ELLIPSE = "ellipse"
    BOX = "box"
    POLYGON = "polygon"
    POINT = "point"


@dataclass
class Finding:
    """A localised finding in image pixels: an ellipse or box given by its bounding box."""

    label: str  # a CheXpert observation or a free label
    x0: float
    y0: float
    x1: float
    y1: float
    shape: AnnotationShape | str = AnnotationShape.ELLIPSE
    certainty: int = 5  # REFLACX scale: 1 unlikely ... 5 consistent with
    points: list[tuple[float, float]] = field(default_factory=list)  # polygon vertices


_SECTION = re.compile(r"^\s*(FINDINGS|IMPRESSION)\s*:\s*", re.IGNORECASE | re.MULTILINE)


@dataclass
class Report:
    """A chest X-ray report with FINDINGS and IMPRESSION sections."""

    findings: str = ""
    impression: str = ""

    @property
    def text(self) -> str:
        return f"FINDINGS: {self.findings.strip()}\n\nIMPRESSION: {self.impression.strip()}"

    @classmethod
    def parse(cls, text: str) -> Report:
        """Split on FINDINGS:/IMPRESSION: headers; text without headers is all findings."""
        parts = _SECTION.split(text)
        if len(parts) == 1:
            return cls(findings=text.strip())
        sections: dict[str, str] = {}
        for name, body in zip(parts[1::2], parts[2::2], strict=False):
            sections[name.upper()] = (sections.get(name.upper(), "") + " " + body).strip()
        findings = sections.get("FINDINGS", "")
        if parts[0].strip():
            findings = (parts[0].strip() + " " + findings).strip()
        return cls(findings=findings, impression=sections.get("IMPRESSION", ""))


@dataclass
class Study:
    """One chest X-ray study as every loader yields it (cohort, REFLACX, EGD-CXR, MIMIC-CXR, IU X-ray)."""

    id: str
    image_path: str = ""
    report: Report | None = None
    scanpaths: list[Scanpath] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    labels: dict[str, int | None] = field(default_factory=dict)  # CheXpert: 1, 0, -1, None
    split: str = ""  # train | val | test
    dataset: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
