"""DICOM Structured Report export with highdicom (imported lazily: only when exporting).

Two objects, both Comprehensive SR, both referencing the radiograph as evidence:
- ``report_sr``: the report as generic content items (a "Diagnostic imaging report" container with
  Findings and Impression text, the observer, and the image reference);
- ``annotations_sr``: the reader's drawn findings as TID 1500 (Measurement Report) planar regions
  (ellipse; closed polyline for boxes and polygons; point), each with its finding label and REFLACX certainty.
``read_back`` re-opens a written file with pydicom and returns what it says, which the export uses
to validate its output before telling the user it succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.contracts import DomainCheck
from ml.types import AnnotationShape, Finding, Image, Report

CERTAINTY_TEXT = {1: "Unlikely", 2: "Less likely", 3: "Possibly", 4: "Suggestive of", 5: "Consistent with"}
PRIVATE_SCHEME = "99G2R"


def stable_uid(*parts: object) -> str:
    """A UID derived from ``parts``: the same report version gets the same SR instance UID on every
    export, so an addendum's SR can name the signed SR it amends."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def evidence_dataset(image: Image, out_dir: Path):
    """The evidence image as a pydicom Dataset: the DICOM itself, or a DX written from the pixels
    (with a study UID derived from the file, so every export of one study names the same study)."""
    import pydicom

    src = Path(image.source) if image.source else None
    if src is not None and src.is_file():
        try:
            return pydicom.dcmread(src, stop_before_pixels=True), None
        except Exception:  # noqa: BLE001 - not DICOM: write one below
            pass
    from ml.imaging import write_dx

    px = image.pixels
    if px.dtype != np.uint16:
        lo, hi = float(np.min(px)), float(np.max(px))
        px = ((px.astype(np.float64) - lo) / max(hi - lo, 1e-9) * 4095).astype(np.uint16)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(image.source).stem if image.source else "image")
    path = out_dir / f"{stem}_image.dcm"
    spacing = tuple(image.spacing) if image.spacing else (0.2, 0.2)
    write_dx(
        px,
        path,
        spacing_mm=spacing,
        patient_id=stem[:60],
        patient_name=f"{stem[:60]}^",
        study_uid=stable_uid("study", image.source or stem),
        series_uid=stable_uid("series", image.source or stem),
    )
    return pydicom.dcmread(path, stop_before_pixels=True), path


def _concept(value: str, meaning: str, scheme: str = "DCM"):
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _label_code(label: str):
    from ml.types import CHEXPERT_OBSERVATIONS

    if label in CHEXPERT_OBSERVATIONS:
        code = f"CXP{CHEXPERT_OBSERVATIONS.index(label):02d}"
    else:
        import hashlib

        code = "FREE" + hashlib.sha1(label.encode()).hexdigest()[:8].upper()
    return _concept(code, label[:64], PRIVATE_SCHEME)


def _common(ds, author: str, series_number: int, sop_instance_uid: str | None = None) -> dict[str, Any]:
    from highdicom import UID

    return dict(
        evidence=[ds],
        series_instance_uid=stable_uid(ds.StudyInstanceUID, "series", series_number),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or UID(),
        instance_number=1,
        manufacturer="Gaze2Report",
    )


def report_sr(
    image: Image,
    report: Report,
    out_path: str | Path,
    author: str = "",
    signed: bool = False,
    model: dict | None = None,
    *,
    version_id: int | None = None,
    amends_id: int | None = None,
    domain: DomainCheck | None = None,
) -> Path:
    """Write the report as a Comprehensive SR (generic content items) next to its evidence.

    ``version_id``: the stored report version written (its SR instance UID derives from it);
    ``amends_id``: for a signed addendum, the version it amends, whose SR is then referenced in
    PredecessorDocumentsSequence (same study, same series), as DICOM expects of an amendment;
    ``domain``: the draft's domain check, recorded as a content item.
    """
    from highdicom.sr import (
        ComprehensiveSR,
        ContainerContentItem,
        ImageContentItem,
        RelationshipTypeValues,
        TextContentItem,
    )

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds, _ = evidence_dataset(image, out.parent)
    contains = RelationshipTypeValues.CONTAINS
    children = []
    from highdicom.sr import PnameContentItem

    if author:
        children.append(
            PnameContentItem(
                name=_concept("121008", "Person Observer Name"),
                value=_person_name(author),
                relationship_type=RelationshipTypeValues.HAS_OBS_CONTEXT,
            )
        )
    for title_code, title, item_code, item, text in (
        ("121070", "Findings", "121071", "Finding", report.findings),
        ("121072", "Impressions", "121073", "Impression", report.impression),
    ):
        section = ContainerContentItem(name=_concept(title_code, title), relationship_type=contains)
        section.ContentSequence = [
            TextContentItem(
                name=_concept(item_code, item), value=text or "(none)", relationship_type=contains
            )
        ]
        children.append(section)
    if model:
        note = f"Draft by {model.get('name', 'model')}" + (" (untrained)" if model.get("untrained") else "")
        children.append(
            TextContentItem(name=_concept("121106", "Comment"), value=note, relationship_type=contains)
        )
    if domain is not None:
        children.append(
            TextContentItem(
                name=_concept("G2RDOMAIN", "Image domain check", PRIVATE_SCHEME),
                value=domain_text(domain),
                relationship_type=contains,
            )
        )
    children.append(
        ImageContentItem(
            name=_concept("121112", "Source of Measurement"),
            referenced_sop_class_uid=ds.SOPClassUID,
            referenced_sop_instance_uid=ds.SOPInstanceUID,
            relationship_type=contains,
        )
    )
    root = ContainerContentItem(name=_concept("18748-4", "Diagnostic imaging report", "LN"), template_id=None)
    root.ContentSequence = children
    series_number = 901

    def instance_uid(version: int | None) -> str | None:
        return None if version is None else stable_uid(ds.StudyInstanceUID, "report", version)

    previous = None
    if amends_id is not None:
        from pydicom import Dataset
        from pydicom.uid import ComprehensiveSRStorage

        amended = Dataset()
        amended.SOPClassUID = ComprehensiveSRStorage
        amended.SOPInstanceUID = instance_uid(amends_id)
        amended.StudyInstanceUID = ds.StudyInstanceUID
        amended.SeriesInstanceUID = stable_uid(ds.StudyInstanceUID, "series", series_number)
        previous = [amended]
    sr = ComprehensiveSR(
        content=root,
        is_complete=True,
        is_final=signed,
        is_verified=signed,
        verifying_observer_name=_person_name(author) if signed and author else None,
        verifying_organization="Gaze2Report workstation" if signed and author else None,
        series_description="Gaze2Report report",
        previous_versions=previous,
        **_common(ds, author, series_number, instance_uid(version_id)),
    )
    sr.save_as(out)
    return out


def annotations_sr(image: Image, findings: Sequence[Finding], out_path: str | Path, author: str = "") -> Path:
    """Write drawn findings as a TID 1500 Measurement Report with planar regions (Comprehensive SR)."""
    from highdicom import UID
    from highdicom.sr import (
        ComprehensiveSR,
        FindingSite,  # noqa: F401 - kept for readers of this module: sites could be added here
        GraphicTypeValues,
        ImageRegion,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
        PersonObserverIdentifyingAttributes,
        PlanarROIMeasurementsAndQualitativeEvaluations,
        QualitativeEvaluation,
        SourceImageForRegion,
        TrackingIdentifier,
    )

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds, _ = evidence_dataset(image, out.parent)
    source = SourceImageForRegion(
        referenced_sop_class_uid=ds.SOPClassUID, referenced_sop_instance_uid=ds.SOPInstanceUID
    )
    groups = []
    for i, f in enumerate(findings):
        gtype, data = _graphic(f)
        region = ImageRegion(
            graphic_type=getattr(GraphicTypeValues, gtype), graphic_data=data, source_image=source
        )
        certainty = QualitativeEvaluation(
            name=_concept("G2RCERT", "Certainty (REFLACX scale)", PRIVATE_SCHEME),
            value=_concept(
                f"G2RC{f.certainty}",
                f"{f.certainty} {CERTAINTY_TEXT.get(f.certainty, '')}".strip(),
                PRIVATE_SCHEME,
            ),
        )
        groups.append(
            PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(uid=UID(), identifier=f"finding {i + 1}"),
                referenced_region=region,
                finding_type=_label_code(f.label),
                qualitative_evaluations=[certainty],
            )
        )
    observer = ObserverContext(
        observer_type=_concept("121006", "Person"),
        observer_identifying_attributes=PersonObserverIdentifyingAttributes(
            name=_person_name(author or "reader")
        ),
    )
    report = MeasurementReport(
        observation_context=ObservationContext(observer_person_context=observer),
        procedure_reported=_concept("168731009", "Chest X-ray", "SCT"),
        imaging_measurements=groups,
    )
    sr = ComprehensiveSR(
        content=report[0],
        is_complete=True,
        series_description="Gaze2Report annotations",
        **_common(ds, author, 902),
    )
    sr.save_as(out)
    return out


def _graphic(f: Finding) -> tuple[str, np.ndarray]:
    """Finding -> (SCOORD graphic type, (N, 2) column/row image coordinates)."""
    x0, y0, x1, y1 = min(f.x0, f.x1), min(f.y0, f.y1), max(f.x0, f.x1), max(f.y0, f.y1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if f.shape == AnnotationShape.POINT:
        return "POINT", np.array([[cx, cy]], dtype=float)
    if f.shape == AnnotationShape.POLYGON and len(f.points) >= 3:
        pts = [tuple(p) for p in f.points]
        return "POLYLINE", np.array(pts + [pts[0]], dtype=float)
    if f.shape == AnnotationShape.BOX:
        return "POLYLINE", np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
    # ellipse: major axis end points, then minor axis end points (PS3.3 C.18.6.1.2)
    if (x1 - x0) >= (y1 - y0):
        return "ELLIPSE", np.array([[x0, cy], [x1, cy], [cx, y0], [cx, y1]], dtype=float)
    return "ELLIPSE", np.array([[cx, y0], [cx, y1], [x0, cy], [x1, cy]], dtype=float)


def domain_text(domain: DomainCheck) -> str:
    """The domain check in words, for the SR and the reader."""
    verdict = "in domain" if domain.in_domain else "OUT OF DOMAIN: the draft is unreliable"
    return f"{verdict} (score {domain.score:.3g}, threshold {domain.threshold:.3g}, {domain.method})"


def _person_name(name: str) -> str:
    """A DICOM PN from a user name ('Jane Doe' -> 'Doe^Jane')."""
    parts = name.strip().split()
    if len(parts) >= 2:
        return f"{parts[-1]}^{' '.join(parts[:-1])}"
    return f"{parts[0]}^" if parts else "Reader^"


def read_back(path: str | Path) -> dict[str, Any]:
    """Re-read an SR with pydicom: SOP class, texts, graphic types, completion/verification flags."""
    import pydicom

    ds = pydicom.dcmread(path)
    texts: dict[str, str] = {}
    graphics: list[str] = []
    labels: list[str] = []

    def walk(items):
        for it in items:
            vt = getattr(it, "ValueType", "")
            name = it.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in it else ""
            if vt == "TEXT":
                texts[name] = it.TextValue
            elif vt == "SCOORD":
                graphics.append(it.GraphicType)
            elif vt == "CODE" and name == "Finding":
                labels.append(it.ConceptCodeSequence[0].CodeMeaning)
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(ds.ContentSequence)
    return {
        "sop_class_uid": str(ds.SOPClassUID),
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "study_uid": str(ds.StudyInstanceUID),
        "predecessors": [
            ref.ReferencedSOPInstanceUID
            for study in ds.get("PredecessorDocumentsSequence", [])
            for series in study.ReferencedSeriesSequence
            for ref in series.ReferencedSOPSequence
        ],
        "modality": ds.Modality,
        "completion": ds.CompletionFlag,
        "verification": ds.VerificationFlag,
        "texts": texts,
        "graphic_types": graphics,
        "labels": labels,
        "evidence_uids": [
            ref.ReferencedSOPInstanceUID
            for study in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
            for series in study.ReferencedSeriesSequence
            for ref in series.ReferencedSOPSequence
        ],
    }
