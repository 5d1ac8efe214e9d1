"""Fixtures for the backend tests: a tiny real drafter, fake models, and image payloads."""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

import numpy as np
import pytest

from ml.contracts import Decoding, DomainCheck, Draft, EncoderFinding, GazeGraph
from ml.types import Image, Scanpath, ScanpathSource

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raw_image(h: int = 64, w: int = 48, dtype: str = "uint16", seed: int = 0) -> dict[str, Any]:
    px = np.random.default_rng(seed).integers(0, 200, (h, w)).astype(dtype)
    return {
        "format": "raw",
        "data": b64(px.astype(px.dtype.newbyteorder("<")).tobytes()),
        "shape": [h, w],
        "dtype": dtype,
    }


def png_bytes(h: int = 64, w: int = 48, mode: str = "L") -> bytes:
    from PIL import Image as PILImage

    arr = np.random.default_rng(1).integers(0, 255, (h, w) if mode == "L" else (h, w, 3)).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def dicom_bytes(tmp_path, h: int = 64, w: int = 48) -> bytes:
    from ml.imaging import write_dx

    px = np.random.default_rng(2).integers(0, 4000, (h, w)).astype(np.uint16)
    path = write_dx(px, tmp_path / "dx.dcm", spacing_mm=(0.5, 0.5))
    return path.read_bytes()


@pytest.fixture(scope="session")
def tiny_drafter():
    """The real drafter code on a tiny randomly initialised Llama (fast; drafts are gibberish)."""
    from ml.models.drafter import Drafter
    from ml.models.llm import tiny_llm

    model, tok = tiny_llm()
    model.config.max_position_embeddings = 256  # small context so the context check is reachable
    return Drafter(model, tok, base_identity={"name": "tiny-llama", "sha256": ""})


class FakeModel:
    """A trained-model stand-in with a scanpath predictor and graph, and controllable timing."""

    def __init__(self, *, block: threading.Event | None = None, fail: BaseException | None = None) -> None:
        self.block = block
        self.fail = fail
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.calls: list[tuple[str, Any]] = []
        self.decodings: list[Decoding | None] = []
        self.redrafted = False  # what the drafts say of themselves
        self.domain: DomainCheck | None = None  # what the domain gate says of every image

    def check_domain(self, image: Image) -> DomainCheck | None:
        return self.domain

    def info(self) -> dict[str, Any]:
        return {"name": "fake", "kind": "bundle", "version": "1", "untrained": False}

    def predict_scanpaths(self, image: Image, n: int = 1, seed: int = 0) -> list[Scanpath]:
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            xyd = np.column_stack(
                [rng.uniform(0, image.width, 4), rng.uniform(0, image.height, 4), rng.uniform(0.1, 0.4, 4)]
            )
            out.append(Scanpath.from_array(xyd, image.size, ScanpathSource.PREDICTED))
        return out

    def gaze_graph(self, image: Image, scanpath: Scanpath) -> GazeGraph:
        n = len(scanpath)
        edges = [(i, i + 1) for i in range(n - 1)]
        return GazeGraph(scanpath, [1.0 / n] * n, edges, [1.0] * len(edges), ["temporal"] * len(edges))

    def generate(
        self, image, scanpath=None, decoding: Decoding | None = None, on_token=None, should_stop=None
    ):
        self.calls.append(("generate", scanpath))
        self.decodings.append(decoding)
        self.started.set()
        if self.fail is not None:
            raise self.fail
        sp = scanpath if scanpath is not None else self.predict_scanpaths(image)[0]
        words = []
        for i in range((decoding or Decoding()).max_new_tokens):
            if should_stop and should_stop():
                self.stopped.set()
                break
            if self.block is not None:
                self.block.wait(0.05)
            word = f" w{i}"
            words.append(word)
            if on_token:
                on_token(word)
        text = "".join(words)
        return Draft(
            text=text,
            scanpath=sp,
            attention=[1.0 / len(sp)] * len(sp),
            model=self.info(),
            n_tokens=len(words),
            findings=[EncoderFinding("Pleural Effusion", 0.97, "right lower", in_draft=False)],
            redrafted=self.redrafted,
            domain=self.domain,
        )


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()
