"""Model bundles: a folder that is everything a trained Gaze2Report needs except the base LLM.

Layout::

    manifest.json            name, version, format, base model (id, path, sha256), config, metrics, files
    adapter/                 the peft LoRA adapter (adapter_config.json + adapter_model.safetensors)
    encoder.safetensors      one file per small module
    scanpath.safetensors
    gnn.safetensors
    projector.safetensors
    vocabulary.txt           the training reports' words: what its drafts may spell (KnownWords)
    domain.safetensors       the domain gate's parameters (``ml.models.domain``); the manifest's
                             ``domain_gate`` names its method and threshold, ``calibration`` holds
                             the per-label scales and biases (``ml.models.calibration``). A bundle
                             without them loads and says "no domain gate" (``Draft.domain`` None).

Loading resolves the base model (the embedded SmolLM2 for ``"default"``, or a local folder),
hashes its weight files and refuses a base whose sha256 differs from the manifest's: LoRA
weights on the wrong base give confident nonsense, which a clinician must never see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ml.contracts import GazeMode, StatusError
from ml.models.config import ModelConfig, model_config_from_dict

BUNDLE_FORMAT = 1
MODULES: tuple[str, ...] = ("encoder", "scanpath", "gnn", "projector")
VOCABULARY = "vocabulary.txt"
DEMO_BUNDLE = Path(__file__).resolve().parents[2] / "assets" / "demo_bundle"


class BundleError(StatusError, RuntimeError):
    """A bundle is missing, malformed, or does not match its base model; the message says which."""

    status, code = 409, "bundle_mismatch"


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    mf = p / "manifest.json"
    if not mf.is_file():
        raise BundleError(f"{p} is not a model bundle (no manifest.json)")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{mf}: not valid JSON ({exc.msg})") from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{p}: bundle format {manifest.get('format')!r} is not supported (want {BUNDLE_FORMAT})"
        )
    for key in ("name", "version", "base_model", "config"):
        if key not in manifest:
            raise BundleError(f"{mf}: missing '{key}'")
    return manifest


TINY = "tiny"  # a deterministic random tiny Llama (ml.models.llm.tiny_llm): for tests only


def _tiny_sha256() -> str:
    import hashlib

    from ml.models import llm

    model, _ = llm.tiny_llm()
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _load_base(where: str, device: str, num_layers: int = 0):
    from ml.models import llm

    if where == TINY:
        model, tok = llm.tiny_llm()
        model = model.to(llm.pick_device(device))
    else:
        model, tok = llm.load_llm(where, device=device)
    if num_layers:
        truncate_layers(model, num_layers)
    return model, tok


def truncate_layers(model: Any, n: int) -> None:
    """Keep the first ``n`` decoder layers (layer dropping; the final norm and LM head stay)."""
    layers = model.model.layers
    if n >= len(layers):
        return
    model.model.layers = layers[:n]
    model.config.num_hidden_layers = n
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:n]


def base_identity(name_or_path: str | None) -> dict[str, Any]:
    """Name, resolved path and weight sha256 of a base LLM, hashed from its files now."""
    from ml.models import llm

    if name_or_path == TINY:
        return {
            "name": "tiny-llama (test)",
            "name_or_path": TINY,
            "source": "ml.models.llm.tiny_llm",
            "sha256": _tiny_sha256(),
        }
    where = Path(llm.resolve(name_or_path))
    ident = llm.identity(str(where)) if where.is_dir() else {"name": str(name_or_path), "sha256": ""}
    sha = llm.weights_sha256(where) if where.is_dir() else ""
    return {
        "name": ident.get("name", where.name),
        "name_or_path": "default"
        if name_or_path in (None, "", "default", llm.DEFAULT_LLM_NAME)
        else str(name_or_path),
        "source": ident.get("source", str(where)),
        "sha256": sha,
    }


def save_bundle(
    net: Any,
    out: str | Path,
    base: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    words: Iterable[str] = (),
) -> Path:
    """Write ``net`` (a ``Gaze2Report`` with a peft LLM) as a bundle; ``base`` from ``base_identity``;
    ``words`` are its training reports' (``vocabulary.txt``: what its drafts may spell)."""
    from dataclasses import asdict

    from safetensors.torch import save_file

    from ml.assets import sha256_of
    from ml.models.vocabulary import write_words

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net.llm.save_pretrained(out / "adapter")
    # peft's empty model card: it only records this machine's path to the base model.
    (out / "adapter" / "README.md").unlink(missing_ok=True)
    files: dict[str, str] = {}
    for name, module in net.small_modules().items():
        state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, out / f"{name}.safetensors")
        files[f"{name}.safetensors"] = sha256_of(out / f"{name}.safetensors")
    for f in sorted((out / "adapter").iterdir()):
        files[f"adapter/{f.name}"] = sha256_of(f)
    write_words(out / VOCABULARY, words)
    files[VOCABULARY] = sha256_of(out / VOCABULARY)
    cfg: ModelConfig = net.cfg
    manifest = {
        "format": BUNDLE_FORMAT,
        "name": cfg.name,
        "version": cfg.version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_model": base,
        "config": asdict(cfg),
        "gaze_modes": list(GazeMode.values()),
        "metrics": metrics or {},
        "training": training or {},
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def identity_of(manifest: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """The bundle identity shown to users (``ReportModel.info()``, ``Draft.model``)."""
    base = manifest["base_model"]
    return {
        "name": manifest["name"],
        "version": manifest["version"],
        "base_model": base.get("name", ""),
        "sha256": base.get("sha256", ""),
        "bundle": str(path) if path else "",
        "created": manifest.get("created", ""),
        "untrained": False,
    }


def build_model(cfg: ModelConfig, llm_name: str | None = None, device: str = "cpu", tiny: bool = False):
    """A fresh ``Gaze2Report`` with new LoRA layers on the (default or given) base LLM."""
    from ml.models import llm as llm_mod
    from ml.models.gaze2report import Gaze2Report, attach_lora

    base, tok = _load_base(
        TINY if tiny else (llm_name or cfg.llm.name_or_path), str(device), cfg.llm.num_layers
    )
    net = Gaze2Report(cfg, attach_lora(base, cfg), tok)
    return net.to(llm_mod.pick_device(device))


def load_bundle(
    path: str | Path | None = None,
    device: str = "cpu",
    mode: GazeMode | str | None = None,
    llm_path: str | None = None,
    verify: bool = True,
):
    """Load a bundle as a ``ReportModel`` (a ``Gaze2ReportDrafter``).

    ``path=None`` loads the demo bundle; ``device`` is cpu, cuda or auto; ``mode`` fixes the gaze
    mode (a ``GazeMode``; None = real gaze when a scanpath is given, else predicted);
    ``llm_path`` overrides where the base model is found (its hash must still match).
    """
    from peft import PeftModel

    from ml.models import llm as llm_mod
    from ml.models.gaze2report import Gaze2Report, Gaze2ReportDrafter
    from ml.models.vocabulary import KnownWords, iu_words, read_words

    p = Path(path) if path else DEMO_BUNDLE
    manifest = read_manifest(p)
    cfg = model_config_from_dict(manifest["config"])
    want = manifest["base_model"]
    where = llm_path or want.get("name_or_path") or "default"
    if verify and want.get("sha256"):
        got = base_identity(where)["sha256"]
        if got != want["sha256"]:
            raise BundleError(
                f"base model at '{where if where == TINY else llm_mod.resolve(where)}' has sha256 {got[:12]}…, but bundle "
                f"'{manifest['name']}' was trained on {want.get('name', '?')} with sha256 {want['sha256'][:12]}…"
            )
    dev = llm_mod.pick_device(device)
    base, tok = _load_base(where, str(dev), cfg.llm.num_layers)
    peft_llm = PeftModel.from_pretrained(base, str(p / "adapter"), is_trainable=False)
    net = Gaze2Report(cfg, peft_llm, tok)
    for name, module in net.small_modules().items():
        _load_weights(module, p / f"{name}.safetensors")
    net = net.to(dev).eval()
    words = iu_words() | (read_words(p / VOCABULARY) if (p / VOCABULARY).is_file() else set())
    net.known_words = KnownWords(tok, words) if words else None
    net.domain_gate, net.calibration = read_domain(p, manifest)
    return Gaze2ReportDrafter(net, identity_of(manifest, p), mode=mode)


def label_names(n: int) -> tuple[str, ...]:
    """The encoder's label names: the CheXpert observations, or indices for another label count."""
    from ml.types import CHEXPERT_OBSERVATIONS

    return CHEXPERT_OBSERVATIONS if n == len(CHEXPERT_OBSERVATIONS) else tuple(str(j) for j in range(n))


def write_domain(bundle: str | Path, gate: Any = None, calibration: Any = None, report: dict | None = None) -> None:
    """Store a fitted ``DomainGate`` and/or ``Calibration`` in a bundle (file, manifest entry, hash);
    ``report`` (how it was fitted and compared) goes into the gate's manifest entry."""
    from ml.assets import sha256_of

    p = Path(bundle)
    manifest = read_manifest(p)
    if gate is not None:
        entry = {**gate.save(p), **(report or {})}
        manifest["domain_gate"] = entry
        manifest.setdefault("files", {})[entry["file"]] = sha256_of(p / entry["file"])
    if calibration is not None:
        names = label_names(len(calibration.scale))
        manifest["calibration"] = calibration.to_dict(names)
    (p / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def read_domain(path: str | Path | None, manifest: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """A bundle's ``(DomainGate | None, Calibration | None)``: None where it carries none."""
    from ml.models.calibration import Calibration
    from ml.models.domain import DomainError, DomainGate

    p = Path(path) if path else DEMO_BUNDLE
    manifest = manifest or read_manifest(p)
    gate = calibration = None
    if manifest.get("domain_gate"):
        try:
            gate = DomainGate.load(p, manifest["domain_gate"])
        except DomainError as exc:
            raise BundleError(str(exc)) from exc
    if manifest.get("calibration"):
        n = model_config_from_dict(manifest["config"]).encoder.n_labels
        calibration = Calibration.from_dict(manifest["calibration"], label_names(n))
    return gate, calibration


def load_encoder(path: str | Path | None = None, device: str = "cpu"):
    """Only the bundle's vision encoder (no LLM), in eval mode: what ``encoder-check`` scores."""
    from ml.models import llm as llm_mod
    from ml.models.encoder import VisionEncoder

    p = Path(path) if path else DEMO_BUNDLE
    cfg = model_config_from_dict(read_manifest(p)["config"])
    encoder = VisionEncoder(cfg.encoder)
    _load_weights(encoder, p / "encoder.safetensors")
    return encoder.to(llm_mod.pick_device(device)).eval()


def _load_weights(module: Any, f: Path) -> None:
    """Load one small module's safetensors file; a missing file or mismatched keys is a BundleError."""
    from safetensors.torch import load_file

    if not f.is_file():
        raise BundleError(f"{f.parent}: missing {f.name}")
    missing, unexpected = module.load_state_dict(load_file(f), strict=False)
    if missing or unexpected:
        raise BundleError(
            f"{f}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
