"""Typed configuration of the Gaze2Report model and its training, loaded from JSON or YAML.

Every design choice the paper leaves open (backbone, number of fixations, graph edges, GNN depth,
LoRA rank, the real/predicted gaze mix ...) is a field here, so experiments change a config
file instead of code. Unknown keys are an error (a typo must not silently fall back to a default).
This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from ml.contracts import GazeMode


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the key."""


@dataclass
class EncoderConfig:
    """Vision backbone giving a patch feature map (B, dim, h, w)."""

    kind: str = "cnn"  # cnn (compact, trains on CPU) | hf (local Hugging Face vision model) | timm
    name_or_path: str = ""  # for hf/timm: a local folder / timm model name
    image_size: int = 224  # square model input (grey → 1 channel for cnn, 3 for hf/timm)
    channels: tuple[int, ...] = (24, 48, 96, 128)  # cnn stage widths; each stage halves resolution
    dim: int = 128  # output feature dim (a 1x1 projection maps hf/timm features to it)
    n_labels: int = 14  # multi-label head (CheXpert observations)
    loc_weight: float = 1.0  # weight of the localisation auxiliary loss (per-finding balanced BCE)
    balance: bool = True  # weight positives by the training set's negative/positive ratio (1..20)
    freeze: bool = False  # freeze backbone weights (hf/timm) and train only the projection


@dataclass
class ScanpathConfig:
    """Gazeformer/MedGaze-style non-autoregressive transformer decoder over patch features."""

    max_len: int = 16  # L: the most fixations predicted (recorded ones are reduced like graph.reduce)
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.1
    min_log_sigma: float = -4.0
    stop_threshold: float = 0.5  # validity probability below which a fixation ends the scanpath
    sample_temperature: float = 1.0  # scales the Gaussian sigmas when sampling


@dataclass
class GraphConfig:
    """How a scanpath becomes a graph (GazeGNN / REFLACX graph work)."""

    fovea_deg: float = 1.0  # foveal window half-width in degrees of visual angle
    px_per_deg: float = 0.0  # image pixels per degree; 0 = use study metadata or fovea_frac
    fovea_frac: float = 0.04  # fallback: foveal half-width as a fraction of the image width
    knn_k: int = 3  # spatial edges to the k nearest fixations (plain torch)
    temporal: bool = True
    spatial: bool = True
    overlap: bool = True  # edges between fixations whose foveal windows overlap
    max_nodes: int = 16  # longer scanpaths are reduced (see ``reduce``)
    reduce: str = "longest"  # longest: keep the max_nodes longest fixations in order | first: the first ones


@dataclass
class GNNConfig:
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1


@dataclass
class ProjectorConfig:
    global_tokens: int = 4  # pooled global image tokens (a g x g grid, g = sqrt)
    # One more visual token from the encoder's finding probabilities (PromptMRG-style) ...
    label_token: bool = True
    # ... and one token per observation: p * E_present + (1 - p) * E_absent ("disease tokens").
    per_label_tokens: bool = True
    hidden: int = 512
    dropout: float = 0.0


@dataclass
class LLMConfig:
    name_or_path: str = "default"  # "default" = the embedded SmolLM2-135M-Instruct
    num_layers: int = 0  # keep only the first N decoder layers (0 = all): a CPU-budget knob
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_report_tokens: int = 192
    # PromptMRG-style diagnosis prompt: name the encoder's likely findings (p >= 0.5) in words
    # after the image tokens. A small LLM learns to copy words in a few hundred steps; learning to
    # read the same facts from soft tokens alone took it more than this CPU's budget.
    findings_prompt: bool = True
    system: str = "You are a radiologist."
    instruction: str = "Write the chest X-ray report (FINDINGS, IMPRESSION)."


@dataclass
class ModelConfig:
    name: str = "gaze2report"
    version: str = "0.1.0"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    scanpath: ScanpathConfig = field(default_factory=ScanpathConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    gnn: GNNConfig = field(default_factory=GNNConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    gaze_mode: str = GazeMode.PREDICTED.value  # default inference mode (a ``GazeMode`` spelling)


@dataclass
class StageConfig:
    epochs: float = 1.0  # fractional epochs allowed (a quick run)
    lr: float = 1e-3
    batch_size: int = 8
    weight_decay: float = 0.01
    max_steps: int = 0  # 0 = no cap
    grad_clip: float = 1.0


@dataclass
class AugmentConfig:
    """Encoder-stage augmentation (``ml.train.augment``): each effect's probability and its range.

    Mild by default: a finding is a local change of density, and photometric jitter as large as the
    cohort's exposures differ hid it from the encoder (``ml.train.augment``); the cohort's
    ``--look clinical`` varies the tone per film on the render side.
    """

    enabled: bool = True
    p_geometric: float = 0.8
    rotate_deg: float = 5.0  # uniform in ± this
    scale: float = 0.06  # isotropic, uniform in 1 ± this
    translate: float = 0.03  # fraction of the image side, uniform in ± this
    p_gamma: float = 0.3
    gamma: float = 0.06  # log of the gamma, uniform in ± this
    p_contrast: float = 0.3
    contrast: float = 0.05  # uniform in 1 ± this, about the image mean
    brightness: float = 0.02  # added, uniform in ± this (image range 0..1)
    p_blur: float = 0.2  # half blur, half sharpen
    blur_sigma: float = 0.8  # pixels of the training image
    p_noise: float = 0.2
    noise: float = 0.015  # Gaussian, standard deviation up to this


@dataclass
class TrainConfig:
    cohort: str = ""  # cohort directory (python main.py cohort --out DIR)
    # More images for the encoder stage only: every study of these cohorts pre-trains the encoder
    # (their own splits are ignored), e.g. a nodule-rich set from ``cohort --add``. The other
    # stages, validation and test keep ``cohort``'s studies, so its finding mix is what the
    # report model learns to write.
    encoder_cohorts: tuple[str, ...] = ()
    seed: int = 0
    stages: tuple[str, ...] = ("encoder", "scanpath", "report")
    encoder: StageConfig = field(default_factory=lambda: StageConfig(epochs=6, lr=2e-3, batch_size=16))
    scanpath: StageConfig = field(default_factory=lambda: StageConfig(epochs=20, lr=1e-3, batch_size=16))
    report: StageConfig = field(default_factory=lambda: StageConfig(epochs=2, lr=5e-4, batch_size=4))
    # Per sample in the report stage: which gaze conditions the prompt (must sum to > 0).
    gaze_mix: dict[str, float] = field(
        default_factory=lambda: {"real_gaze": 0.4, "predicted": 0.4, "image_only": 0.1, "no_gnn": 0.1}
    )
    val_every: int = 100  # steps between validations (and at every epoch end)
    val_batches: int = 8  # validation batches per check
    ckpt_every: int = 200  # steps between checkpoints (and at every epoch end)
    log_every: int = 10
    max_train: int = 0  # cap on training studies (0 = all), for quick runs
    max_val: int = 32  # cap on the studies periodic validation draws from (the encoder check uses all)
    num_threads: int = 0  # torch CPU threads (0 = torch default)
    eval_samples: int = 8  # greedy drafts on the validation split at the end (for the summary)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # encoder stage; {"enabled": false}: off


@dataclass
class Config:
    """A whole run: the model and how to train it."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build a (nested) dataclass from plain data; unknown keys and wrong types raise ConfigError."""
    data = dict(data or {})
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown config key '{where}{key}' (known: {', '.join(sorted(names))})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{where}{key}' must be a mapping")
            kwargs[key] = from_dict(hint, value, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(value, hint, f"{where}{key}")
    out = cls(**kwargs)
    _validate(out)
    return out


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = getattr(hint, "__origin__", None)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping")
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint in (float, int, bool, str):
        raise ConfigError(f"config key '{key}' must be {hint.__name__}, got {value!r}")
    return value


def _validate(obj: Any) -> None:
    if isinstance(obj, ModelConfig) and obj.gaze_mode not in GazeMode.values():
        raise ConfigError(
            f"model.gaze_mode must be one of {', '.join(GazeMode.values())}, got '{obj.gaze_mode}'"
        )
    if isinstance(obj, TrainConfig):
        bad = set(obj.gaze_mix) - set(GazeMode.values())
        if bad:
            raise ConfigError(f"train.gaze_mix has unknown modes: {', '.join(sorted(bad))}")
        if sum(obj.gaze_mix.values()) <= 0:
            raise ConfigError("train.gaze_mix weights must sum to more than 0")
        unknown = set(obj.stages) - {"encoder", "scanpath", "report"}
        if unknown:
            raise ConfigError(f"train.stages has unknown stages: {', '.join(sorted(unknown))}")
    if isinstance(obj, AugmentConfig):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if f.name.startswith("p_") and not 0.0 <= v <= 1.0:
                raise ConfigError(f"train.augment.{f.name} is a probability: it must be in [0, 1], got {v}")
            if not isinstance(v, bool) and v < 0:
                raise ConfigError(f"train.augment.{f.name} is a range: it must not be negative, got {v}")
        if obj.scale >= 1:
            raise ConfigError(f"train.augment.scale must be below 1, got {obj.scale}")
    if isinstance(obj, EncoderConfig) and obj.kind not in ("cnn", "hf", "timm"):
        raise ConfigError(f"model.encoder.kind must be cnn, hf or timm, got '{obj.kind}'")
    if isinstance(obj, GraphConfig) and obj.reduce not in ("longest", "first"):
        raise ConfigError(f"model.graph.reduce must be longest or first, got '{obj.reduce}'")
    if isinstance(obj, ScanpathConfig) and obj.max_len < 1:
        raise ConfigError("model.scanpath.max_len must be at least 1")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a JSON or YAML config file (None = all defaults); ``overrides`` are merged on top."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        text = p.read_text()
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
    if overrides:
        data = _merge(data, overrides)
    return from_dict(Config, data)


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    return from_dict(ModelConfig, data, "model.")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
