"""Request and response bodies of the v1 API (pydantic); docs/API.md describes them for clients.

Bounds live here so that the generated OpenAPI schema documents them and out-of-range input is a
422 before any work is done.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from ml.contracts import Decoding
from ml.types import ScanpathSource

MAX_FIXATIONS = 512

RawDtype = Literal["uint8", "uint16", "int16", "float32"]



def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"should be a number, not {type(value).__name__}")
    return value


#: A JSON integer: 3 or 3.0 (JSON Schema counts both as integers), never true, "3" or 3.5.
Int = Annotated[int, Field(strict=False), BeforeValidator(_json_number)]
_Spacing = Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)]
_Dim = Annotated[int, Field(strict=False, ge=1), BeforeValidator(_json_number)]
#: Standard base64 with padding, nothing else (what the server decodes); never empty.
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


#: A 16×16 ramp, the smallest plausible radiograph: the schema's example image (also what the fuzz
#: tests start from).
_EXAMPLE_IMAGE = {"format": "raw", "data": base64.b64encode(bytes(range(256))).decode(), "shape": [16, 16], "dtype": "uint8"}


class _Strict(BaseModel):
    """A request body: unknown keys are refused, and no type is coerced into another (a boolean is
    not a number, a string is not an integer), so what the schema says is what the server takes."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _ImageBase(_Strict):
    name: str = Field(default="", max_length=256, description="file-name hint used in messages")
    spacing: list[_Spacing] | None = Field(
        default=None, min_length=2, max_length=2, description="[row, column] mm per pixel"
    )


class FileImageIn(_ImageBase):
    """A PNG/JPEG/TIFF file (``png``) or a DICOM file (``dicom``) as base64."""

    format: Literal["png", "dicom"]
    data: str = Field(min_length=1, pattern=_BASE64, description="base64 of the file's bytes")


class RawImageIn(_ImageBase):
    """A raw 2-D array: base64 of C-order little-endian pixels, ``shape`` [rows, columns] and ``dtype``."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_IMAGE]})

    format: Literal["raw"]
    data: str = Field(
        min_length=1,
        pattern=_BASE64,
        description="base64 of the pixels; decoded, exactly rows × columns × the dtype's size bytes",
    )
    shape: list[_Dim] = Field(min_length=2, max_length=2, description="[rows, columns]")
    dtype: RawDtype = Field(description="pixel type")


ImageIn = Annotated[FileImageIn | RawImageIn, Field(discriminator="format")]
_IMAGE = TypeAdapter(ImageIn)


def parse_image(data: dict[str, Any]) -> FileImageIn | RawImageIn:
    """A request's ``image`` object as the server reads it (raises pydantic's ValidationError)."""
    return _IMAGE.validate_python(data)


class GazePoint(_Strict):
    """One fixation in image pixels (origin top-left) with its duration in seconds."""

    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)
    duration: float = Field(ge=0.0, le=60.0, allow_inf_nan=False)


class DecodingIn(_Strict):
    """Decoding options (``ml.contracts.Decoding``); omitted keys take the model's defaults."""

    max_new_tokens: Int = Field(default=Decoding.max_new_tokens, ge=1, le=1024)
    num_beams: Int = Field(default=Decoding.num_beams, ge=1, le=8)
    repetition_penalty: float = Field(default=Decoding.repetition_penalty, ge=0.5, le=2.0)
    no_repeat_ngram_size: Int = Field(default=Decoding.no_repeat_ngram_size, ge=0, le=16)
    do_sample: bool = Decoding.do_sample
    temperature: float = Field(default=Decoding.temperature, ge=0.05, le=5.0)
    seed: Int = Field(default=Decoding.seed, ge=0, le=2**31 - 1)
    known_words: bool = Decoding.known_words
    redraft: Int = Field(default=Decoding.redraft, ge=0, le=16)

    def to_decoding(self) -> Decoding:
        return Decoding(**self.model_dump())


Gaze = list[GazePoint]


class ScanpathsRequest(_Strict):
    image: ImageIn
    n: Int = Field(default=1, ge=1, le=16)
    seed: Int = Field(default=0, ge=0, le=2**31 - 1)


class GraphRequest(_Strict):
    image: ImageIn
    gaze: Gaze | None = Field(
        default=None, max_length=MAX_FIXATIONS, description="null: use a predicted scanpath"
    )
    seed: Int = Field(default=0, ge=0, le=2**31 - 1)


class ReportRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"image": _EXAMPLE_IMAGE, "decoding": {"max_new_tokens": 8}}]},
    )

    image: ImageIn
    gaze: Gaze | None = Field(
        default=None, max_length=MAX_FIXATIONS, description="null: use a predicted scanpath"
    )
    decoding: DecodingIn | None = None


class SwapRequest(_Strict):
    bundle: str = Field(min_length=1, max_length=4096, description="the bundle folder, as the server sees it")


class ErrorBody(BaseModel):
    """Every error response: a one-line message a GUI can show, a stable code, and for 500s an id."""

    detail: str
    code: str
    error_id: str | None = None


_ERROR_WHEN = {
    401: "missing or invalid bearer token",
    409: "not supported by the loaded model",
    413: "body or image too large",
    415: "body is not JSON",
    422: "invalid request, image or gaze",
    429: "model queue full (Retry-After)",
    503: "model still loading (Retry-After)",
    500: "unexpected error (error_id in the server log)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the ``ErrorBody`` schema."""
    return {s: {"model": ErrorBody, "description": _ERROR_WHEN[s]} for s in statuses}


#: What a GET behind the token can answer, and what a model POST can answer besides.
READ_ERRORS = error_responses(401, 413, 500, 503)
MODEL_ERRORS = {**READ_ERRORS, **error_responses(409, 415, 422, 429)}


def is_untrained(info: dict[str, Any]) -> bool:
    return bool(info.get("untrained", False))


class QueueState(BaseModel):
    running: int
    waiting: int
    capacity: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    ready: bool
    device: str
    untrained: bool | None
    api: Literal["v1"] = "v1"
    version: str
    model: dict[str, Any] | None
    queue: QueueState
    error: str | None = None


class Capabilities(BaseModel):
    scanpaths: bool
    graph: bool
    stream: bool = True


class ModelOut(BaseModel):
    info: dict[str, Any]
    untrained: bool
    capabilities: Capabilities
    context_length: int | None
    decoding: DecodingIn


class SwapOut(BaseModel):
    model: dict[str, Any]  # the model now served
    previous: dict[str, Any] | None  # the one it replaced (drafts in flight finish on it); None: none loaded


class ScanpathsOut(BaseModel):
    scanpaths: list[Gaze]
    image_size: tuple[int, int]


class GraphOut(BaseModel):
    scanpath: Gaze
    scanpath_source: ScanpathSource | None
    node_attention: list[float]
    edges: list[tuple[int, int]]
    edge_attention: list[float]
    edge_types: list[str]
    image_size: tuple[int, int]


class FindingOut(BaseModel):
    """An observation the vision encoder finds likely (``ml.contracts.EncoderFinding``)."""

    label: str
    probability: float
    place: str
    in_draft: bool


class DomainOut(BaseModel):
    """Whether the image looks like the model's training images (``ml.contracts.DomainCheck``)."""

    in_domain: bool
    score: float
    threshold: float
    method: str


class ReportOut(BaseModel):
    report: str
    findings: list[FindingOut] = []
    redrafted: bool = False  # a sampled redraft replaced the streamed first draft
    scanpath: Gaze
    scanpath_source: ScanpathSource | None
    attention: list[float]
    n_tokens: int
    model: dict[str, Any]
    untrained: bool
    image_size: tuple[int, int]
    elapsed_s: float
    domain: DomainOut | None = None  # None: the model carries no domain gate



class ScanpathEvent(BaseModel):
    scanpath: Gaze
    scanpath_source: ScanpathSource | None


class TokenEvent(BaseModel):
    text: str
