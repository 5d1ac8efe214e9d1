"""Continue from a bundle: its trained weights into a freshly built model, before any stage runs.

Why: a site's refresh trains every stage further from the bundle that serves now (encoder heads,
scanpath predictor, GNN, projector and LoRA adapter) instead of from scratch, so a few hundred
signed studies adjust a model rather than replace it. The bundle's config must be the model's.
"""

from __future__ import annotations

from pathlib import Path

from ml.models.bundle import BundleError, _load_weights, read_manifest


def load_bundle_weights(net, bundle: str | Path) -> None:  # noqa: ANN001 - a Gaze2Report
    """Load ``bundle``'s small modules and LoRA adapter into ``net`` (built from the same config)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    root = Path(bundle)
    read_manifest(root)
    for name, module in net.small_modules().items():
        _load_weights(module, root / f"{name}.safetensors")
    adapter = root / "adapter" / "adapter_model.safetensors"
    if not adapter.is_file():
        raise BundleError(f"{root}: missing adapter/adapter_model.safetensors")
    result = set_peft_model_state_dict(net.llm, load_file(adapter))
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise BundleError(f"{adapter}: LoRA weights do not match the config (unexpected {unexpected[:3]})")
