"""The contract between the report model and its callers (the backend, the CLI, evaluation, the GUI).

Anything that drafts reports implements ``ReportModel``: the full Gaze2Report bundle, and the
untrained base-LLM drafter used before a bundle exists. Callers never touch torch objects.
It lives in the torch-free core, not in ``ml.models``, so the GUI process can use the same types
without depending on the torch package's layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml.types import Image, Scanpath, Vocabulary


class GazeMode(Vocabulary):
    """How a draft conditions on gaze: the four rows of the ablation table, in table order."""

    IMAGE_ONLY = "image_only"  # no gaze tokens
    REAL_GAZE = "real_gaze"  # the recorded scanpath
    PREDICTED = "predicted"  # a scanpath sampled from the predictor (Gaze2Report's on-the-fly gaze)
    NO_GNN = "no_gnn"  # fixation tokens without the graph network (predicted unless a scanpath is given)

    @property
    def label(self) -> str:
        """The row's name in results tables."""
        return _GAZE_MODE_LABELS[self]


_GAZE_MODE_LABELS = {
    GazeMode.IMAGE_ONLY: "Image only (no gaze tokens)",
    GazeMode.REAL_GAZE: "Real gaze (recorded scanpath)",
    GazeMode.PREDICTED: "Predicted gaze (Gaze2Report)",
    GazeMode.NO_GNN: "Predicted gaze w/o GNN",
}


class StatusError(Exception):
    """A request refused on purpose, with the HTTP status and stable code the backend answers it with.

    Models raise subclasses for input they cannot use (a gaze mode without gaze, a prompt over the
    context, a capability they lack); the backend maps exactly this base class to a 4xx JSON error,
    and anything else stays an unexpected 500. The message is one line a reader can act on.
    """

    status: int = 422
    code: str = "invalid_input"

    def __init__(self, message: str = "") -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass
class Decoding:
    """Decoding settings for report generation."""

    max_new_tokens: int = 160
    num_beams: int = 1  # 1 = greedy (streams); >1 = beam search (no streaming)
    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 4
    do_sample: bool = False
    temperature: float = 1.0
    seed: int = 0
    known_words: bool = True  # write only words reports have used (``ml.models.vocabulary``)
    # when the first draft disagrees with the image model's likely findings, sample this many more
    # and keep the one that agrees best (``ml.models.redraft``); 0 = keep the first draft
    redraft: int = 7


@dataclass
class EncoderFinding:
    """An observation the vision encoder finds likely: what the draft was prompted with.

    Shown beside the draft so a reader sees what the image model suspected even where the draft
    leaves it out (``in_draft`` false): a small report model can drop a finding it was told of.
    """

    label: str  # a CheXpert observation
    probability: float
    place: str = ""  # e.g. "left upper" (patient's side), for localised findings
    in_draft: bool = False  # the draft mentions it as present (rule labeler)


@dataclass
class DomainCheck:
    """Whether an image looks like the images the model was trained on, and by how much.

    A draft of an out-of-domain image is unreliable however confident it reads; the reader is told.
    ``score`` grows with distance from the training images; ``in_domain`` is ``score <= threshold``.
    """

    in_domain: bool
    score: float
    threshold: float
    method: str  # the detector's name, as stored in the bundle manifest


@dataclass
class GazeGraph:
    """The gaze graph of one scanpath with the GNN's attention, for the attention overlay."""

    scanpath: Scanpath
    node_attention: list[float]  # one weight per fixation, sums to 1
    edges: list[tuple[int, int]] = field(default_factory=list)
    edge_attention: list[float] = field(default_factory=list)
    edge_types: list[str] = field(default_factory=list)  # temporal | spatial | overlap


@dataclass
class Draft:
    """A generated report with what it was conditioned on."""

    text: str
    scanpath: Scanpath | None
    attention: list[float]
    model: dict[str, Any]  # bundle identity: name, version, base model, sha256, untrained flag
    n_tokens: int = 0
    findings: list[EncoderFinding] = field(default_factory=list)  # the encoder's likely findings
    redrafted: bool = False  # the text is a sampled redraft, not the first draft (``ml.models.redraft``)
    domain: DomainCheck | None = None  # None: the bundle carries no domain gate


class ReportModel(Protocol):
    """What the backend serves. ``info()`` is the bundle identity shown to users."""

    def info(self) -> dict[str, Any]: ...

    def check_domain(self, image: Image) -> DomainCheck | None:
        """Whether ``image`` looks like the training images, before any generation (the same answer
        ``generate`` puts in ``Draft.domain``); None when the model carries no domain gate."""
        ...

    def predict_scanpaths(self, image: Image, n: int = 1, seed: int = 0) -> list[Scanpath]: ...

    def gaze_graph(self, image: Image, scanpath: Scanpath) -> GazeGraph: ...

    def generate(
        self,
        image: Image,
        scanpath: Scanpath | None = None,
        decoding: Decoding | None = None,
        on_token: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Draft:
        """Draft a report. ``scanpath=None`` means predict one (Gaze2Report's on-the-fly gaze).

        ``on_token`` receives text pieces as they are decoded (streaming); ``should_stop``
        is polled between tokens so a cancelled request stops generating.
        """
        ...
