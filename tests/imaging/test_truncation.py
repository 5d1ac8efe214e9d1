"""A DICOM file cut anywhere is refused with one message, whether read from disk or from bytes."""

from __future__ import annotations

import numpy as np
import pytest
from dicom_factory import dataset, ramp, save
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ml.imaging import CorruptImage, TruncatedFile, load_image, load_image_bytes
from ml.imaging.dicom import read_dicom

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on every early EOF

NAME = "cut.dcm"
MESSAGE = f"{NAME}: DICOM file is truncated (it ends before its pixel data does)"
SYNTAXES = {
    "explicit little endian": None,
    "implicit little endian": "1.2.840.10008.1.2",
    "explicit big endian": "1.2.840.10008.1.2.2",
    "deflated": "1.2.840.10008.1.2.1.99",
    "RLE": "1.2.840.10008.1.2.5",
    "JPEG-LS": "1.2.840.10008.1.2.4.80",
    "JPEG 2000": "1.2.840.10008.1.2.4.90",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Each syntax once: 400×400 16-bit (its pixel data is read lazily, past pydicom's defer size),
    and a 64×64 native one whose pixel data pydicom reads with the header."""
    root = tmp_path_factory.mktemp("whole")
    out = {}
    for label, syntax in SYNTAXES.items():
        arr = ramp(400, 400, 16, False, seed=len(label))
        out[label] = save(dataset(arr, bits_stored=16), root / f"{len(out)}.dcm", syntax).read_bytes()
    out["small explicit little endian"] = save(
        dataset(ramp(64, 64, 12, False), bits_stored=12), root / "small.dcm"
    ).read_bytes()
    return out


def _refused_alike(data: bytes, folder) -> None:
    path = folder / NAME
    path.write_bytes(data)
    with pytest.raises(TruncatedFile) as on_disk:
        load_image(path)
    with pytest.raises(TruncatedFile) as in_memory:
        load_image_bytes(data, NAME)
    with pytest.raises(TruncatedFile) as from_stream:
        read_dicom(path.open("rb"), name=NAME)
    assert str(on_disk.value) == str(in_memory.value) == str(from_stream.value) == MESSAGE


def test_every_whole_file_reads(files):
    for label, data in files.items():
        assert load_image_bytes(data, NAME).pixels.size > 0, label


@pytest.mark.parametrize("label", list(SYNTAXES))
def test_the_reported_cuts_are_refused_on_disk_and_in_memory(files, tmp_path, label):
    data = files[label]
    for cut in (4000, len(data) // 2, len(data) - 10, len(data) - 1):
        _refused_alike(data[:cut], tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(label=st.sampled_from(sorted([*SYNTAXES, "small explicit little endian"])), where=st.floats(0.0, 1.0))
@example(label="explicit little endian", where=1.0)
@example(label="explicit little endian", where=0.0)
def test_any_cut_after_the_magic_gives_the_same_one_line_error(files, tmp_path, label, where):
    data = files[label]
    cut = 132 + int(where * (len(data) - 133))  # from the bare 'DICM' magic to one byte short
    _refused_alike(data[:cut], tmp_path)


def test_pixel_data_shorter_than_its_size_is_never_filled_from_what_follows(tmp_path):
    ds = dataset(ramp(400, 400, 16, False), bits_stored=16)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.add_new(0xFFFCFFFC, "OB", b"\x7f" * 400_000)  # trailing padding the reader must not take for pixels
    path = tmp_path / "short.dcm"
    ds.save_as(path, enforce_file_format=True)
    for read in (lambda: load_image(path), lambda: load_image_bytes(path.read_bytes(), "short.dcm")):
        with pytest.raises(CorruptImage, match="pixel data holds 160,000 bytes but 400×400 pixels need 320,000"):
            read()


def test_no_reader_hands_on_an_unfilled_buffer(files, tmp_path, monkeypatch):
    """Poison every fresh buffer: whatever a cut file yields, it must never be the poison."""
    real_empty = np.empty

    def poisoned(*args, **kwargs):
        arr = real_empty(*args, **kwargs)
        arr.view(np.uint8)[...] = 0xA5
        return arr

    monkeypatch.setattr(np, "empty", poisoned)
    data = files["explicit little endian"]
    _refused_alike(data[: len(data) - 10], tmp_path)
    whole = load_image_bytes(data, NAME).pixels
    assert not (whole.view(np.uint16) == 0xA5A5).any()
