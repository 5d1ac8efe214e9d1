"""The report model's LLM in vLLM: one GPU server drafting for a whole reading room.

Everything before the LLM (encoder, scanpath predictor, gaze graph + GNN, projector, the prompt's
embeddings) stays in torch as in every other engine; only decoding moves into vLLM, fed the
prompt as embeddings (``enable_prompt_embeds``), so concurrent drafts share the GPU through vLLM's
continuous batching instead of queueing behind one another. The bundle's LoRA adapter is merged
into the base weights and the merged model is what vLLM loads (LoRA requests cannot be combined
with prompt embeddings in every vLLM version; a merged model always can, at no cost per token).

vLLM pulls in a CUDA build of torch, so it is installed only on a GPU server (the ``vllm`` extra)
and imported only here, lazily. Two of our decoding rules have no vLLM counterpart and are not
applied: known words (a per-row logits processor) and ``no_repeat_ngram_size``; ``info()`` says so
(``inference.rules``), and the repetition penalty, greedy/sampled decoding, the seed and the end token
carry over.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

#: Decoding rules vLLM applies for us (the others are named in ``info()["inference"]``).
RULES = ("repetition_penalty", "greedy_or_sampled", "seed", "end_token")
SKIPPED_RULES = ("known_words", "no_repeat_ngram_size")


class VLLMUnavailable(RuntimeError):
    """``--engine vllm`` cannot run here; the message says why in one line."""


def unavailable_reason() -> str | None:
    """Why vLLM cannot serve on this machine (no CUDA GPU, vllm not installed), or None when it can."""
    if not torch.cuda.is_available():
        return "the vllm engine needs a CUDA GPU and this machine has none (serve without --engine vllm)"
    if importlib.util.find_spec("vllm") is None:
        return "the vllm engine needs the vllm package (install the project's vllm extra on the GPU server)"
    return None


class VLLMDecoder:
    """Decodes prompt embeddings in vLLM's async engine, behind the synchronous call the model makes.

    The engine runs on its own event loop thread; ``decode`` may be called from many threads at
    once (one per request), and vLLM batches them.
    """

    def __init__(self, model_dir: str | Path, dtype: str = "bfloat16", gpu_memory_utilization: float = 0.5,
                 max_model_len: int = 2048) -> None:  # fmt: skip
        reason = unavailable_reason()
        if reason:
            raise VLLMUnavailable(reason)
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vllm-loop", daemon=True)
        self._thread.start()
        args = AsyncEngineArgs(
            model=str(model_dir),
            dtype=dtype,
            enable_prompt_embeds=True,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
        )
        self.engine = self._call(self._make(AsyncLLMEngine, args))
        self.dtype = getattr(torch, dtype)
        self._ids = itertools.count()

    @staticmethod
    async def _make(cls: Any, args: Any) -> Any:
        return cls.from_engine_args(args)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def decode(
        self,
        prompt: torch.Tensor,
        decoding: Any,
        n: int,
        sample: bool,
        temperature: float,
        end_id: int,
        pad_id: int,
        on_step: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> torch.Tensor:
        """Like ``ml.models.decode.decode``: (n, L) ids, rows that ended with ``end_id`` then ``pad_id``."""
        rows = self._call(self._generate(prompt, decoding, n, sample, temperature, end_id, on_step, should_stop))
        width = max((len(r) for r in rows), default=0)
        return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long).reshape(n, width)

    async def _generate(self, prompt, decoding, n, sample, temperature, end_id, on_step, should_stop):  # noqa: ANN001, ANN202
        from vllm import SamplingParams

        params = SamplingParams(
            n=n,
            temperature=temperature if sample else 0.0,
            max_tokens=decoding.max_new_tokens,
            repetition_penalty=decoding.repetition_penalty,
            seed=decoding.seed if sample else None,
            stop_token_ids=[end_id],
            ignore_eos=False,
        )
        request_id = f"draft-{next(self._ids)}"
        sent, latest = 0, {}  # the newest (cumulative) output of each of the n completions
        embeds = prompt.detach().to("cpu", self.dtype)
        async for out in self.engine.generate({"prompt_embeds": embeds}, params, request_id):
            for o in out.outputs:
                latest[o.index] = o
            first = list(latest[0].token_ids) if 0 in latest else []
            if on_step is not None:
                for t in first[sent:]:
                    on_step(int(t))
            sent = len(first)
            if should_stop is not None and should_stop():
                await self.engine.abort(request_id)
                break
        rows = []
        for _, o in sorted(latest.items()):
            ids = list(o.token_ids)
            if o.finish_reason == "stop" and (not ids or ids[-1] != end_id):
                ids.append(end_id)  # ended on the end token, which vLLM may leave out
            rows.append(ids)
        return rows + [[] for _ in range(n - len(rows))]


def merged_model_dir(net: Any, out: str | Path | None = None) -> Path:
    """Write the net's LLM with its LoRA merged (and its tokenizer) as a plain Hugging Face folder."""
    from ml.models.fastcpu import merge_lora

    folder = Path(out) if out else Path(tempfile.mkdtemp(prefix="gaze2report-vllm-"))
    net.llm = merge_lora(net.llm)
    net.llm.save_pretrained(folder, safe_serialization=True)
    net.tokenizer.save_pretrained(folder)
    return folder


def serve_with_vllm(drafter: Any, **engine_kwargs: Any) -> Any:
    """Move a loaded bundle's decoding into vLLM (``Gaze2ReportDrafter``, loaded on the GPU), in place.

    Drafts then run concurrently: the drafter's one-at-a-time lock is lifted (its torch modules
    only read their weights) and the model queue hands the engine several requests at once.
    """
    reason = unavailable_reason()
    if reason:
        raise VLLMUnavailable(reason)
    net = drafter.net
    net.engine = VLLMDecoder(merged_model_dir(net), **engine_kwargs)
    drafter._lock = _NoLock()
    drafter.identity["inference"] = {
        "device": str(net.device),
        "engine": "vllm",
        "rules": list(RULES),
        "rules_not_applied": list(SKIPPED_RULES),
    }
    return drafter


class _NoLock:
    """A context manager that holds nothing: vLLM serialises what needs serialising."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
