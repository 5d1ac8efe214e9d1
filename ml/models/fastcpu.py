"""Fast CPU inference for small causal LMs: weight-only int8 / int4 linear layers.

Token-by-token decoding on a CPU reads every weight once per token, so it is bound by memory
traffic. Storing ``nn.Linear`` weights as int8 (per output channel) or int4 (asymmetric, groups
of 32 along the input) and running PyTorch's fused weight-only kernels
(``aten._weight_int8pack_mm``, ``aten._weight_int4pack_mm_for_cpu``) with bf16 activations cuts
that traffic 2–4× against bf16 and 4–7× against fp32.

int4 with groups of 32, min/scale per group, is the same format as GGUF ``Q4_1``: the embedded
SmolLM2 weights are dequantised ``Q4_1`` values, so re-quantising them this way recovers the
original integers (the quantisation adds no error of its own beyond bf16 scales).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

SCHEMES = ("none", "bf16", "int8", "int4")


class Int8WeightLinear(nn.Module):
    """``y = x @ W.T + b`` with W stored as int8 and one scale per output channel."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        self.register_buffer("weight_int8", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scale.to(dtype))
        self.bias = (
            None if linear.bias is None else nn.Parameter(linear.bias.detach().to(dtype), requires_grad=False)
        )
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).to(self.scales.dtype)
        y = torch.ops.aten._weight_int8pack_mm(x2, self.weight_int8, self.scales)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


class Int4WeightLinear(nn.Module):
    """``y = x @ W.T + b`` with W as 4-bit integers, an fp scale and minimum per group of inputs."""

    def __init__(self, linear: nn.Linear, group_size: int = 32, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        n, k = linear.weight.shape
        if k % group_size:
            raise ValueError(f"in_features {k} is not a multiple of the group size {group_size}")
        w = linear.weight.detach().float().reshape(n, k // group_size, group_size)
        lo, hi = w.amin(-1), w.amax(-1)
        scale = ((hi - lo) / 15.0).clamp(min=1e-8)
        q = torch.round((w - lo[..., None]) / scale[..., None]).clamp(0, 15).to(torch.int32).reshape(n, k)
        zeros = lo + 8.0 * scale  # the kernel dequantises (q - 8) * scale + zero
        self.register_buffer("weight_int4", torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 2))
        self.register_buffer(
            "scales_zeros", torch.stack([scale, zeros], -1).transpose(0, 1).contiguous().to(dtype)
        )
        self.bias = (
            None if linear.bias is None else nn.Parameter(linear.bias.detach().to(dtype), requires_grad=False)
        )
        self.group_size, self.in_features, self.out_features = group_size, k, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).to(self.scales_zeros.dtype)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            x2, self.weight_int4, self.group_size, self.scales_zeros
        )
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def _replace_linears(module: nn.Module, make) -> int:
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(module, name, make(child, name))
            count += 1
        else:
            count += _replace_linears(child, make)
    return count


def optimize_for_cpu(
    model: Any, scheme: str = "int4", group_size: int = 32, int8_names: frozenset[str] | set[str] = frozenset()
) -> Any:
    """Convert a loaded causal LM in place for CPU decoding; returns it.

    ``none`` leaves it; ``bf16`` casts it; ``int8``/``int4`` cast the rest to bf16 and swap every
    ``nn.Linear`` for a weight-only quantised one (``int4``: attention and MLP in int4, the output
    head in int8; the embedding table stays bf16 for lookups). Under ``int4``, linears named in
    ``int8_names`` (e.g. ``q_proj``) get int8 instead. Inference only.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown CPU scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if scheme == "none":
        return model
    if hasattr(model, "get_input_embeddings") and getattr(model.config, "tie_word_embeddings", False):
        # untie so the head can be quantised while lookups keep the dense table
        head = model.get_output_embeddings()
        if head is not None and head.weight is model.get_input_embeddings().weight:
            head.weight = nn.Parameter(head.weight.detach().clone(), requires_grad=False)
            model.config.tie_word_embeddings = False
    model.to(torch.bfloat16)
    if scheme == "int8":
        _replace_linears(model, lambda lin, _: Int8WeightLinear(lin, torch.bfloat16))
    elif scheme == "int4":
        # the output head stays int8: it is the tied embedding, which GGUF keeps at 8 bits (Q8_0)
        # too, and 4 bits there costs measurable quality (benchmarks/cpu_speedup.py)
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        if isinstance(head, nn.Linear):
            model.set_output_embeddings(Int8WeightLinear(head, torch.bfloat16))
        _replace_linears(
            model,
            lambda lin, name: Int8WeightLinear(lin, torch.bfloat16)
            if name in int8_names
            else Int4WeightLinear(lin, group_size, torch.bfloat16),
        )
    model.eval()
    model.gaze2report_cpu_scheme = scheme
    return model


def merge_lora(model: Any) -> Any:
    """The plain causal LM with a peft model's LoRA weights added into its base weights.

    A merged model computes the same function as the adapter on its base, with no extra matmuls
    per layer, and is an ordinary model that ``optimize_for_cpu`` (or any engine) can convert.
    A model without an adapter is returned as it is.
    """
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def fast_cpu_bundle(drafter: Any, scheme: str = "int4") -> Any:
    """Convert a loaded bundle's drafter (``Gaze2ReportDrafter``) for CPU decoding, in place.

    The LoRA adapter is merged into the base weights first, then the LLM gets ``scheme``; the
    encoder, scanpath predictor, GNN and projector stay fp32 (they run once per draft). Under
    ``int4`` the layers the adapter changed stay int8: the embedded base weights are GGUF Q4_1
    values, which int4 recovers exactly, but base + LoRA is off that grid, and rounding it to 4 bits
    cost the demo bundle 0.16 nats/token of reference-report likelihood
    (``benchmarks/results/fastcpu_quality*.json``). Its ``info()`` says which scheme serves it,
    because a quantised model can change a word of a draft. ``none`` changes nothing.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown CPU scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    net = drafter.net
    if scheme != "none":
        with drafter._lock:
            adapted = _adapted_names(net.llm)
            net.llm = optimize_for_cpu(merge_lora(net.llm), scheme, int8_names=adapted)
    drafter.identity["inference"] = {"device": str(net.device), "cpu_scheme": scheme}
    return drafter


def _adapted_names(model: Any) -> set[str]:
    """Names of the linear layers a peft model's LoRA adapter changes (e.g. ``q_proj``)."""
    out: set[str] = set()
    for cfg in getattr(model, "peft_config", {}).values():
        out.update(cfg.target_modules or ())
    return out
