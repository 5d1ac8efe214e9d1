"""The Indiana University report loader reads Open-i XML (in a .tgz) into Study records."""

from __future__ import annotations

import io
import tarfile

import pytest

from ml.datasets.iu_xray import IUXrayError, iter_reports, load_reports, parse_report_xml

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <meta type="rr"/>
   <uId id="CXR{id}"/>
   <IUXRId id="{id}"/>
   <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
      <Article PubModel="Electronic">
         <Abstract>
            <AbstractText Label="COMPARISON">None.</AbstractText>
            <AbstractText Label="INDICATION">Cough</AbstractText>
            <AbstractText Label="FINDINGS">{findings}</AbstractText>
            <AbstractText Label="IMPRESSION">{impression}</AbstractText>
         </Abstract>
      </Article>
   </MedlineCitation>
   <MeSH>
{mesh}
   </MeSH>
   <parentImage id="CXR{id}_IM-0001-1001"><figureId>F1</figureId></parentImage>
   <parentImage id="CXR{id}_IM-0001-2001"><figureId>F2</figureId></parentImage>
</eCitation>
"""


def _xml(id_: int, findings: str, impression: str, major: list[str], automatic: list[str] = ()) -> bytes:
    mesh = "\n".join(
        [f"      <major>{t}</major>" for t in major]
        + [f"      <automatic>{t}</automatic>" for t in automatic]
    )
    return XML.format(id=id_, findings=findings, impression=impression, mesh=mesh).encode()


def _archive(path, docs: dict[int, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for id_, data in docs.items():
            info = tarfile.TarInfo(f"ecgen-radiology/{id_}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_parse_sections_mesh_and_labels():
    study = parse_report_xml(
        _xml(
            7,
            "Mild cardiomegaly. Small   right pleural effusion.",
            "Cardiomegaly and effusion.",
            ["Cardiomegaly/mild", "Pleural Effusion/right/small"],
            ["effusion"],
        )
    )
    assert study.id == "7"
    assert study.dataset == "iu_xray"
    assert study.report.findings == "Mild cardiomegaly. Small right pleural effusion."
    assert study.report.impression == "Cardiomegaly and effusion."
    assert study.metadata["mesh_major"] == ["Cardiomegaly/mild", "Pleural Effusion/right/small"]
    assert study.metadata["mesh_automatic"] == ["effusion"]
    assert study.metadata["indication"] == "Cough"
    assert study.metadata["images"] == ["CXR7_IM-0001-1001", "CXR7_IM-0001-2001"]
    assert study.labels["Cardiomegaly"] == 1
    assert study.labels["Pleural Effusion"] == 1
    assert study.labels["Pneumothorax"] == 0
    assert study.labels["No Finding"] == 0


def test_normal_and_unindexed_reports():
    normal = parse_report_xml(_xml(2, "Clear lungs.", "Normal chest.", ["normal"]))
    assert normal.labels["No Finding"] == 1 and normal.metadata["indexed"]
    unindexed = parse_report_xml(_xml(3, "Clear lungs.", "Normal chest.", ["No Indexing"]))
    assert unindexed.labels == {} and not unindexed.metadata["indexed"]


def test_archive_order_and_parity(tmp_path):
    path = tmp_path / "reports.tgz"
    _archive(
        path,
        {
            10: _xml(10, "a", "b", ["normal"]),
            3: _xml(3, "a", "b", ["normal"]),
            4: _xml(4, "a", "b", ["normal"]),
        },
    )
    assert [s.id for s in iter_reports(path)] == ["3", "4", "10"]
    assert [s.id for s in load_reports(path, parity="even")] == ["4", "10"]
    assert [s.id for s in load_reports(path, parity="odd")] == ["3"]
    with pytest.raises(IUXrayError, match="parity"):
        load_reports(path, parity="prime")


def test_bad_input_raises_typed_errors(tmp_path):
    with pytest.raises(IUXrayError, match="not valid XML"):
        parse_report_xml(b"<eCitation><oops>")
    with pytest.raises(IUXrayError, match="IUXRId"):
        parse_report_xml(b"<eCitation></eCitation>")
    with pytest.raises(IUXrayError, match="no such file"):
        list(iter_reports(tmp_path / "missing.tgz"))
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tar file at all")
    with pytest.raises(IUXrayError, match="tar"):
        list(iter_reports(junk))


@pytest.mark.slow
def test_real_archive_if_fetched():
    from ml import assets

    if not assets.is_fetched("iu_reports"):
        pytest.skip("iu_reports asset not fetched")
    studies = load_reports()
    assert len(studies) == 3955
    indexed = [s for s in studies if s.metadata["indexed"]]
    assert len(indexed) > 3800
    assert sum(s.labels["Cardiomegaly"] for s in indexed) > 300
