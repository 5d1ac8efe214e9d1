"""Indiana University chest X-ray reports (Open-i ``NLMCXR_reports.tgz``) as ``Study`` records.

The archive holds one XML file per report (``ecgen-radiology/<id>.xml``) with the sections
COMPARISON / INDICATION / FINDINGS / IMPRESSION and the MeSH terms that people assigned
(``<major>``, e.g. ``Pleural Effusion/right/small``) next to machine-extracted ones
(``<automatic>``). We read the archive in place (no extraction) because the labeler's
validation and the cohort's vocabulary check only need the text and the terms.

``Study.labels`` comes from the human MeSH terms through ``ml.metrics.mesh_map``: 1 where a
term maps to the observation, 0 where the report was indexed but no term maps, and an empty
dict for reports indexed as ``No Indexing`` (no human labels to compare against).
"""

from __future__ import annotations

import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from ml.types import Report, Study


class IUXrayError(ValueError):
    """The IU X-ray archive or one of its reports could not be read."""


def _text(node: ET.Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def parse_report_xml(data: bytes | str, source: str = "") -> Study:
    """One Open-i XML report → ``Study`` (id = the IU report number, e.g. ``"1"``)."""
    from ml.metrics.mesh_map import labels_from_mesh

    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise IUXrayError(f"{source or 'report'}: not valid XML ({exc})") from exc
    id_node = root.find("IUXRId")
    if id_node is None or not id_node.get("id"):
        raise IUXrayError(f"{source or 'report'}: no <IUXRId id=...> element")
    sections = {(node.get("Label") or "").upper(): _text(node) for node in root.iter("AbstractText")}
    mesh = root.find("MeSH")
    major = [_text(n) for n in mesh.iter("major")] if mesh is not None else []
    automatic = [_text(n) for n in mesh.iter("automatic")] if mesh is not None else []
    images = [n.get("id", "") for n in root.iter("parentImage")]
    indexed = bool(major) and not any(t.lower() == "no indexing" for t in major)
    return Study(
        id=id_node.get("id", ""),
        image_path=images[0] if images else "",
        report=Report(findings=sections.get("FINDINGS", ""), impression=sections.get("IMPRESSION", "")),
        labels=labels_from_mesh(major) if indexed else {},
        dataset="iu_xray",
        metadata={
            "mesh_major": major,
            "mesh_automatic": automatic,
            "indexed": indexed,
            "comparison": sections.get("COMPARISON", ""),
            "indication": sections.get("INDICATION", ""),
            "images": images,
            "source": source,
        },
    )


def iter_reports(archive: str | Path | None = None) -> Iterator[Study]:
    """Yield every report in the archive (default: the ``iu_reports`` asset), ordered by id."""
    if archive is None:
        from ml import assets

        archive = assets.path("iu_reports")
    archive = Path(archive)
    if not archive.exists():
        raise IUXrayError(f"{archive}: no such file")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".xml")]
            members.sort(key=lambda m: _numeric_key(Path(m.name).stem))
            for member in members:
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                yield parse_report_xml(handle.read(), source=member.name)
    except tarfile.TarError as exc:
        raise IUXrayError(f"{archive}: not a readable tar archive ({exc})") from exc


def load_reports(archive: str | Path | None = None, parity: str | None = None) -> list[Study]:
    """All reports, or only those with an ``"even"`` / ``"odd"`` numeric id (the labeler's dev/held-out split)."""
    if parity not in (None, "even", "odd", "all"):
        raise IUXrayError(f"parity must be 'even', 'odd' or 'all', not {parity!r}")
    studies = list(iter_reports(archive))
    if parity in (None, "all"):
        return studies
    want = 0 if parity == "even" else 1
    return [s for s in studies if s.id.isdigit() and int(s.id) % 2 == want]


def _numeric_key(stem: str) -> tuple[int, str]:
    return (int(stem), "") if stem.isdigit() else (1 << 62, stem)
