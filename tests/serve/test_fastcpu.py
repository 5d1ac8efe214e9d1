"""Weight-only int8/int4 CPU layers: numerically close to the dense layer, and a model still drafts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml.models.fastcpu import Int4WeightLinear, Int8WeightLinear, optimize_for_cpu


def _q4_1_linear(n: int = 96, k: int = 128, seed: int = 0) -> nn.Linear:
    """A linear layer whose weights are exactly GGUF Q4_1 values (blocks of 32: min + q * scale)."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(k, n, bias=True)
    lo = torch.randn(n, k // 32, 1, generator=g) * 0.1
    scale = torch.rand(n, k // 32, 1, generator=g) * 0.02 + 0.001
    q = torch.randint(0, 16, (n, k // 32, 32), generator=g).float()
    q[..., 0], q[..., 1] = 0, 15  # each block spans its full range, as Q4_1 blocks do
    with torch.no_grad():
        lin.weight.copy_((lo + q * scale).reshape(n, k))
        lin.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return lin


def test_int4_recovers_q4_1_weights_exactly():
    lin = _q4_1_linear()
    q4 = Int4WeightLinear(lin, group_size=32, dtype=torch.bfloat16)
    x = torch.randn(3, 128)
    eye = torch.eye(128, dtype=torch.bfloat16)
    # W recovered column by column through the kernel, up to the bf16 scales/zeros
    w_back = (q4(eye) - q4.bias).float().T
    assert torch.allclose(w_back, lin.weight, atol=2e-3, rtol=1e-2)
    ref = nn.functional.linear(x.bfloat16().float(), lin.weight, lin.bias)
    assert torch.allclose(q4(x).float(), ref, atol=0.05, rtol=0.02)


def test_int8_is_close_to_dense():
    lin = nn.Linear(64, 40)
    q8 = Int8WeightLinear(lin, dtype=torch.bfloat16)
    x = torch.randn(2, 5, 64)
    y = q8(x)
    assert y.shape == (2, 5, 40)
    ref = lin(x)
    assert (y.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_group_size_must_divide_inputs():
    with pytest.raises(ValueError, match="group size"):
        Int4WeightLinear(nn.Linear(40, 8), group_size=32)


@pytest.mark.parametrize("scheme", ["bf16", "int8", "int4"])
def test_optimised_tiny_llm_keeps_its_predictions(scheme):
    from ml.models.llm import tiny_llm

    model, tok = tiny_llm(hidden=64, layers=2)
    ids = tok("FINDINGS: the heart is normal in size", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        ref = model(input_ids=ids).logits.float()
    fast = optimize_for_cpu(model, scheme)
    if scheme != "bf16":
        assert not any(isinstance(m, nn.Linear) for m in fast.modules())
    with torch.inference_mode():
        got = fast(input_ids=ids).logits.float()
        out = fast.generate(input_ids=ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids.shape[1] + 5
    corr = torch.corrcoef(torch.stack([ref.flatten(), got.flatten()]))[0, 1]
    assert corr > 0.98, corr


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown CPU scheme"):
        optimize_for_cpu(nn.Linear(2, 2), "fp8")
