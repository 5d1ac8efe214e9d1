"""A cut DICOM upload and an image that cannot be a radiograph get the documented 4xx, never a draft."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ml.serve import create_app
from tests.serve.conftest import AUTH, TOKEN, FakeModel, b64

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on every early EOF

NAME = "chest.dcm"
TRUNCATED = f"image: {NAME}: DICOM file is truncated (it ends before its pixel data does)"
SYNTAXES = {"explicit little endian": None, "implicit little endian": "1.2.840.10008.1.2", "RLE": "1.2.840.10008.1.2.5"}


@pytest.fixture(scope="module")
def model():
    return FakeModel()


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model, TOKEN), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """A 1024×1024 16-bit DX (2 MB, as in the report that found the defect) in several syntaxes."""
    from pydicom.uid import UID

    from ml.imaging.dicom import dx_dataset

    root = tmp_path_factory.mktemp("dx")
    px = np.random.default_rng(0).integers(0, 4096, (1024, 1024)).astype(np.uint16)
    out = {}
    for label, syntax in SYNTAXES.items():
        ds = dx_dataset(px, spacing_mm=(0.2, 0.2))
        if syntax is not None and UID(syntax).is_compressed:
            ds.compress(UID(syntax))
        elif syntax is not None:
            ds.file_meta.TransferSyntaxUID = UID(syntax)
        path = root / f"{len(out)}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out[label] = path.read_bytes()
    return out


def _post(client, data: bytes, endpoint: str = "/v1/reports"):
    body = {"image": {"format": "dicom", "data": b64(data), "name": NAME}, "decoding": {"max_new_tokens": 4}}
    return client.post(endpoint, content=json.dumps(body).encode(), headers={**AUTH, "Content-Type": "application/json"})


def _refused(r) -> None:
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"].startswith("application/json")
    got = r.json()
    assert (got["code"], got["detail"]) == ("bad_image", TRUNCATED)


def test_the_whole_upload_is_drafted(client, uploads):
    for label, data in uploads.items():
        assert _post(client, data).status_code == 200, label


@pytest.mark.parametrize("endpoint", ["/v1/reports", "/v1/reports/stream"])
def test_the_reported_cuts_are_refused_alike(client, model, uploads, endpoint):
    calls = len(model.calls)
    data = uploads["explicit little endian"]
    for cut in (4000, len(data) // 2, len(data) - 10):
        _refused(_post(client, data[:cut], endpoint))
    assert len(model.calls) == calls  # the model never saw any of them


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(label=st.sampled_from(sorted(SYNTAXES)), where=st.floats(0.0, 1.0))
@example(label="RLE", where=1.0)
def test_every_cut_of_an_upload_gives_the_same_json_error(client, uploads, label, where):
    data = uploads[label]
    _refused(_post(client, data[: 132 + int(where * (len(data) - 133))]))


def test_an_upload_that_cannot_be_a_radiograph_is_a_4xx(client, model, tmp_path):
    from ml.imaging import write_dx

    calls = len(model.calls)
    for pixels, says in (
        (np.zeros((256, 256), np.uint16), "one value (0) everywhere"),
        (np.full((256, 256), 65535, np.uint16), "one value (65535) everywhere"),
        (np.arange(4, dtype=np.uint16).reshape(2, 2), "2×2 pixels"),
    ):
        data = write_dx(pixels, tmp_path / "x.dcm", spacing_mm=(0.2, 0.2)).read_bytes()
        r = _post(client, data)
        assert r.status_code == 422 and r.json()["code"] == "bad_image", r.text[:300]
        assert r.json()["detail"].startswith(f"image: {NAME} ") and says in r.json()["detail"]
    assert len(model.calls) == calls
