"""The report model's decode loop: one forward per token, and one prefill for a batch of samples.

``transformers``' ``generate`` serves every model and strategy; drafting needs two: greedy (streamed)
and a batch of samples from one prompt (the redraft). This loop does just those with the same
logits processors in the same order (repetition penalty, no-repeat n-grams, known words, then
temperature), so greedy drafts are token for token ``generate``'s. What it saves:

- the sampling batch prefills the prompt once and repeats its KV cache across the rows
  (``generate`` with ``num_return_sequences`` prefills every row: n times the prompt's work);
- per-token bookkeeping (stopping criteria objects, streamer calls, cache and mask updates,
  unfinished-sequence tracking on tensors) shrinks to a few tensor ops;
- a sampled row that has ended leaves the batch (its KV cache rows are dropped), where
  ``generate`` keeps decoding padding for it until the longest row ends;
- the LM head runs on the last position only during the prefill.

What did not help on this CPU is recorded in ``benchmarks/results/decode_loop.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def processors(decoding: Any, extra: Sequence[Any] = (), temperature: float | None = None) -> list[Any]:
    """The logits processors ``generate`` would apply for ``decoding`` (a ``Decoding``), in its order."""
    from transformers import (
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
    )

    out: list[Any] = []
    if decoding.repetition_penalty and decoding.repetition_penalty != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(decoding.repetition_penalty))
    if decoding.no_repeat_ngram_size and decoding.no_repeat_ngram_size > 0:
        out.append(NoRepeatNGramLogitsProcessor(decoding.no_repeat_ngram_size))
    out.extend(extra)
    if temperature is not None and temperature != 1.0:
        out.append(TemperatureLogitsWarper(temperature))
    return out


@torch.inference_mode()
def decode(
    llm: Any,
    prompt: torch.Tensor,
    max_new_tokens: int,
    end_ids: Sequence[int],
    pad_id: int,
    logits_processors: Sequence[Any] = (),
    n: int = 1,
    sample: bool = False,
    on_step: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """Generate after ``prompt`` (T, D embeddings): (n, L) token ids, rows that ended padded with ``pad_id``.

    Greedy unless ``sample`` (multinomial over the processed scores; seed torch beforehand). With
    ``n`` > 1 the prompt is prefilled once and its cache repeated for the ``n`` rows; a row that
    ends leaves the batch. ``on_step`` gets row 0's new tokens (the streamed draft, up to its end);
    ``should_stop`` is asked after each step.
    """
    from transformers import DynamicCache

    cache = DynamicCache(config=llm.config)
    kv = {_cache_argument(llm): cache, "use_cache": True}
    out = llm(inputs_embeds=prompt[None], logits_to_keep=1, **kv)
    logits = out.logits[:, -1].float()
    if n > 1:
        cache.batch_repeat_interleave(n)
        logits = logits.expand(n, -1).contiguous()
    ends = torch.tensor(list(end_ids), device=prompt.device)
    rows: list[list[int]] = [[] for _ in range(n)]
    alive = list(range(n))  # rows still decoding; the batch holds only these
    ids = torch.empty(n, 0, dtype=torch.long, device=prompt.device)
    for _ in range(max_new_tokens):
        scores = logits
        for p in logits_processors:
            scores = p(ids, scores)
        nxt = torch.multinomial(torch.softmax(scores, -1), 1)[:, 0] if sample else scores.argmax(-1)
        ids = torch.cat([ids, nxt[:, None]], 1)
        for r, t in zip(alive, nxt.tolist(), strict=True):
            rows[r].append(t)
        if on_step is not None and alive[0] == 0:
            on_step(rows[0][-1])
        ended = torch.isin(nxt, ends)
        if bool(ended.all()) or (should_stop is not None and should_stop()):
            break
        if bool(ended.any()):  # a row that ended leaves the batch: no more work on its padding
            keep = (~ended).nonzero()[:, 0]
            cache.batch_select_indices(keep)
            ids, nxt = ids[keep], nxt[keep]
            alive = [alive[i] for i in keep.tolist()]
        logits = llm(input_ids=nxt[:, None], **kv).logits[:, -1].float()
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long, device=prompt.device)


def _cache_argument(llm: Any) -> str:
    """What the model's forward calls its KV cache (``cache`` in newer transformers)."""
    import inspect

    base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"
