"""A trained bundle served in the fast CPU format: LoRA merged exactly, then int4, within tolerance of fp32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml.contracts import Decoding
from ml.eval.cpu_quality import TOLERANCE, compare_formats, report_nll
from ml.models.bundle import base_identity, load_bundle, save_bundle
from ml.models.fastcpu import Int4WeightLinear, Int8WeightLinear, fast_cpu_bundle, merge_lora


@pytest.fixture
def bundle(tmp_path, tiny_net):
    with torch.no_grad():  # a fresh adapter's B is zero: make it change the model
        for n, p in tiny_net.llm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    return save_bundle(tiny_net, tmp_path / "b", base_identity("tiny"), words={"effusion", "pleural"})


@pytest.fixture
def studies(tmp_path):
    from ml.train.synthetic import make_studies

    return make_studies(tmp_path / "data", n=4, size=64)[:3]


def test_merging_the_adapter_keeps_the_models_function(bundle):
    drafter = load_bundle(bundle)
    llm = drafter.net.llm
    ids = drafter.net.tokenizer("FINDINGS: small right pleural effusion", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        with_adapter = llm(input_ids=ids).logits
        base_only = llm.get_base_model()
        with llm.disable_adapter():
            without = base_only(input_ids=ids).logits
        merged = merge_lora(llm)
        after = merged(input_ids=ids).logits
    assert not hasattr(merged, "peft_config")
    assert (with_adapter - without).abs().max() > 1e-3  # the adapter matters
    assert torch.allclose(after, with_adapter, atol=1e-4)


def test_a_fast_bundle_drafts_within_tolerance_of_fp32(bundle, studies):
    reference = load_bundle(bundle)
    fast = fast_cpu_bundle(load_bundle(bundle), "int4")
    assert not any(isinstance(m, nn.Linear) for m in fast.net.llm.modules())
    layer = fast.net.llm.model.layers[0]
    # the adapter's layers are off the base's 4-bit grid once merged: they keep 8 bits
    assert isinstance(layer.self_attn.q_proj, Int8WeightLinear) and isinstance(layer.self_attn.o_proj, Int8WeightLinear)
    assert isinstance(layer.mlp.gate_proj, Int4WeightLinear)
    assert fast.info()["inference"] == {"device": "cpu", "cpu_scheme": "int4"}
    result = compare_formats(reference, fast, studies, Decoding(max_new_tokens=12, redraft=0))
    assert result["n"] == 3
    assert abs(result["nll_delta"]) <= TOLERANCE["nll"], result
    assert result["within_tolerance"], result
    # the same drafts where the models agree on every label
    assert result["same_labels"] == 1.0, result


def test_the_likelihood_check_sees_a_broken_format(bundle, studies):
    from ml.imaging import load_image

    reference = load_bundle(bundle)
    broken = load_bundle(bundle)
    with torch.no_grad():  # a wrong scale, as a quantiser's bug would leave
        broken.net.llm.get_base_model().model.norm.weight.mul_(4)
    image, text = load_image(studies[0].image_path), studies[0].report.text
    a, n_a = report_nll(reference, image, text)
    b, n_b = report_nll(broken, image, text)
    assert n_a == n_b > 5
    assert abs(b / n_b - a / n_a) > TOLERANCE["nll"]


def test_the_served_bundle_is_fast_on_the_cpu(bundle):
    from ml.cli.serve import bundle_loader

    served = bundle_loader("cpu", "int8")(bundle)
    assert served.info()["inference"]["cpu_scheme"] == "int8"
    draft = served.generate(*_image_and_none(), Decoding(max_new_tokens=4, redraft=0))
    assert draft.model["inference"]["cpu_scheme"] == "int8" and draft.n_tokens <= 4


def test_an_unknown_scheme_is_refused(bundle):
    with pytest.raises(ValueError, match="unknown CPU scheme"):
        fast_cpu_bundle(load_bundle(bundle), "fp4")


def _image_and_none():
    import numpy as np

    from ml.types import Image

    return Image(pixels=np.random.default_rng(3).uniform(0, 1000, (70, 90)).astype(np.float32)), None
