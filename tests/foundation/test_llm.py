"""Loading language models: the tiny test model, the embedded default, a clear error for a bad path."""

import pytest
import torch

from ml.models import llm


def test_tiny_llm_generates_with_the_chat_template():
    model, tok = llm.tiny_llm()
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Describe the lungs."}], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    out = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids.shape[1] + 5 or int(out[0, -1]) == tok.eos_token_id


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(llm.ModelNotFound, match="cannot load language model"):
        llm.load_llm(str(tmp_path / "nope"))


def test_identity_of_a_local_folder_hashes_its_weights(tmp_path):
    model, tok = llm.tiny_llm()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    ident = llm.identity(str(tmp_path))
    assert ident["name"] == tmp_path.name and len(ident["sha256"]) == 64
    assert llm.weights_sha256(tmp_path) == ident["sha256"]
    loaded, _ = llm.load_llm(str(tmp_path))
    with torch.no_grad():
        x = torch.tensor([[1, 2, 3]])
        assert torch.allclose(loaded(x).logits, model(x).logits, atol=1e-5)


@pytest.mark.slow
def test_embedded_smollm2_loads_and_writes_a_report():
    model, tok = llm.load_llm()
    assert llm.identity(None)["name"] == "SmolLM2-135M-Instruct"
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Write a short chest X-ray report: FINDINGS and IMPRESSION."}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    out = model.generate(ids, max_new_tokens=20, do_sample=False)
    text = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert len(text.split()) >= 3
