"""The report model's own decode loop: greedy drafts are transformers' generate()'s token for token,
and a sampling batch shares one prefill of the prompt."""

from __future__ import annotations

import torch

from ml.contracts import Decoding
from ml.models.decode import decode, processors


def _prompt(net, n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return net.llm.get_input_embeddings().weight[torch.randint(0, 2000, (n,), generator=g)].detach()


def _generate(llm, prompt, tok, max_new, **kw):
    return llm.generate(
        inputs_embeds=prompt[None],
        attention_mask=torch.ones(1, prompt.shape[0], dtype=torch.long),
        max_new_tokens=max_new,
        repetition_penalty=1.1,
        no_repeat_ngram_size=4,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        top_k=None,
        top_p=None,
        **kw,
    )


def test_greedy_decoding_matches_generate_token_for_token(tiny_net):
    tok, llm = tiny_net.tokenizer, tiny_net.llm
    for seed in range(3):
        prompt = _prompt(tiny_net, seed=seed)
        with torch.no_grad():
            want = _generate(llm, prompt, tok, 25, do_sample=False)
        got = decode(llm, prompt, 25, [tok.eos_token_id], tok.pad_token_id, processors(Decoding()))
        assert got.tolist() == want.tolist()


def test_a_sampling_batch_prefills_the_prompt_once(tiny_net, monkeypatch):
    tok, llm = tiny_net.tokenizer, tiny_net.llm
    prompt = _prompt(tiny_net)
    lengths = []
    real = type(llm).forward

    def spy(self, *args, **kwargs):
        x = kwargs.get("inputs_embeds")
        if x is not None:
            lengths.append(tuple(x.shape[:2]))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(llm), "forward", spy)
    dec = Decoding(do_sample=True, temperature=0.7)
    torch.manual_seed(1)
    rows = decode(llm, prompt, 12, [tok.eos_token_id], tok.pad_token_id, processors(dec, (), 0.7), n=5, sample=True)
    assert lengths == [(1, prompt.shape[0])]  # one prefill, batch of one
    assert rows.shape[0] == 5 and len({tuple(r) for r in rows.tolist()}) > 1  # the rows are different drafts
    torch.manual_seed(1)
    again = decode(llm, prompt, 12, [tok.eos_token_id], tok.pad_token_id, processors(dec, (), 0.7), n=5, sample=True)
    assert again.tolist() == rows.tolist()  # seeded: reproducible


def test_each_sampled_row_continues_its_own_prompt_cache(tiny_net):
    """Each row's scores at each step are the model's logits for the prompt plus that row's tokens."""
    tok, llm = tiny_net.tokenizer, tiny_net.llm
    prompt = _prompt(tiny_net)
    seen = []

    def record(ids, scores):
        seen.append(scores.clone())
        return scores

    torch.manual_seed(3)
    rows = decode(llm, prompt, 6, [], tok.pad_token_id, [record], n=3, sample=True)
    assert rows.shape == (3, 6)
    for i, row in enumerate(rows.tolist()):
        ids = torch.tensor(row[:-1])[None]
        embeds = torch.cat([prompt, llm.get_input_embeddings()(ids)[0]])[None]
        with torch.no_grad():
            want = llm(inputs_embeds=embeds).logits[0, prompt.shape[0] - 1 :].float()
        got = torch.stack([step[i] for step in seen])
        assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


def test_stopping_ends_the_draft_after_the_current_token(tiny_net):
    tok, llm = tiny_net.tokenizer, tiny_net.llm
    seen = []
    out = decode(
        llm, _prompt(tiny_net), 20, [], tok.pad_token_id, [], on_step=seen.append, should_stop=lambda: len(seen) >= 3
    )
    assert out.shape == (1, 3) and out[0].tolist() == seen


def test_drafts_stream_and_redraft_through_the_loop(tiny_net):
    import numpy as np

    from ml.models.gaze2report import Gaze2ReportDrafter
    from ml.types import Image

    image = Image(pixels=np.random.default_rng(3).uniform(0, 1000, (70, 90)).astype(np.float32))
    pieces = []
    draft = Gaze2ReportDrafter(tiny_net, {}).generate(
        image, decoding=Decoding(max_new_tokens=10, known_words=False, redraft=0), on_token=pieces.append
    )
    assert "".join(pieces).strip() == draft.text and draft.n_tokens > 0
    samples = tiny_net.sample_ids(_prompt(tiny_net), Decoding(max_new_tokens=6, seed=4), 3, 0.7)
    assert len(samples) == 3 and all(len(ids) <= 6 for ids, _ in samples)


def test_rows_that_end_leave_the_batch_and_the_others_keep_their_cache(tiny_net):
    tok, llm = tiny_net.tokenizer, tiny_net.llm
    prompt, end = _prompt(tiny_net), tok.eos_token_id
    seen = []

    def record(ids, scores):
        seen.append((ids.clone(), scores.clone()))
        return scores

    def end_early(ids, scores):  # a row ends after 2, 3 or 4 tokens, by its first token
        out = scores.clone()
        for j in range(ids.shape[0]):
            if ids.shape[1] and ids.shape[1] >= 2 + int(ids[j, 0]) % 3:
                out[j] = float("-inf")
                out[j, end] = 0.0
        return out

    torch.manual_seed(5)
    rows = decode(llm, prompt, 8, [end], tok.pad_token_id, [record, end_early], n=6, sample=True)
    batch_sizes = [ids.shape[0] for ids, _ in seen]
    assert batch_sizes[0] == 6 and batch_sizes[-1] < 6 and batch_sizes == sorted(batch_sizes, reverse=True)
    for row in rows.tolist():
        body = row[: row.index(end) + 1]
        assert len(body) == 3 + body[0] % 3 and all(t == tok.pad_token_id for t in row[len(body) :])
    for ids, scores in seen[1:]:
        for j in range(ids.shape[0]):
            embeds = torch.cat([prompt, llm.get_input_embeddings()(ids[j : j + 1])[0]])[None]
            with torch.no_grad():
                want = llm(inputs_embeds=embeds).logits[0, -1].float()
            assert torch.allclose(scores[j], want, atol=1e-4)
