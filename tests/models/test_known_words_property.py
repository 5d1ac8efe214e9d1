"""Known-words decoding never writes a non-word, whatever the model prefers (property test)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.models.vocabulary import KnownWords, unknown_words

WORDS = frozenset(
    {"pneumothorax", "pneumothoraces", "pleural", "pleuroparenchymal", "effusion", "small", "right",
     "sided", "no", "findings", "impression", "axillary", "airspace", "disease", "pneumonia"}
)
# What a byte-level BPE vocabulary has: every single letter in both cases, whole and partial words in
# several casings, the mixed-case pieces behind the reported non-words, punctuation, digits, spaces.
PIECES = (
    [chr(c) for c in range(ord("a"), ord("z") + 1)]
    + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    + [" pneumo", " Pneumo", " PNEUMO", "thor", "thorax", "ORace", "ORaceS", "aceS", "aces", "ace", "S",
       "-", " ", ".", ",", ":", "\n", " 12", " mm", " pleuro", "par", "ENCHYMAL", "enchymal", " pleural",
       " eff", "usion", "ussion", " Small", " small", " right", "-sided", "-Axillary", " FINDINGS", " no",
       " x", "é", "<eos>"]
)
EOS = PIECES.index("<eos>")


class PieceTokenizer:
    eos_token_id = EOS

    def decode(self, ids, skip_special_tokens: bool = False) -> str:  # noqa: ANN001
        return "".join("" if (i == EOS and skip_special_tokens) else PIECES[i] for i in ids)


def test_the_reported_non_words_are_refused():
    kw = KnownWords(PieceTokenizer(), WORDS)
    assert not kw.allowed("pneumothorace", PIECES.index("S"))  # "pneumothoraceS"
    assert not kw.allowed("pneumoth", PIECES.index("ORaceS"))  # "pneumothORaceS"
    assert not kw.allowed("pleuropar", PIECES.index("ENCHYMAL"))  # "pleuroparENCHYMAL"
    assert kw.allowed("pleuropar", PIECES.index("enchymal")) and kw.allowed("pneumothor", PIECES.index("aces"))
    assert kw.allowed("", PIECES.index(" PNEUMO")) and kw.allowed("", PIECES.index(" Pneumo"))
    assert unknown_words("Small right-sided pneumothoraceS-Axillary airspace disease", WORDS) == ["pneumothoraceS"]
    assert unknown_words("FINDINGS: No pneumothorax. Pleural effusion, 12 mm.", WORDS | {"mm"}) == []


def test_a_long_word_written_letter_by_letter_is_still_seen_whole():
    kw = KnownWords(PieceTokenizer(), WORDS)
    ids = [PIECES.index(" ")] + [PIECES.index(c) for c in "pleuroparenchyma"]
    assert kw.open_word(ids) == "pleuroparenchyma"
    assert kw.allowed("pleuroparenchyma", PIECES.index("l")) and not kw.allowed("pleuroparenchyma", PIECES.index("."))


@st.composite
def model_preferences(draw):
    """Per step: the tokens the model likes best, in order, the tokens a repetition rule banned,
    and a seed for the scores of all the rest."""
    n = draw(st.integers(1, 60))
    token = st.integers(0, len(PIECES) - 1)
    return [
        (
            draw(st.lists(token, min_size=1, max_size=5, unique=True)),
            draw(st.lists(token, max_size=8, unique=True)),
            draw(st.integers(0, 2**16)),
        )
        for _ in range(n)
    ]


@settings(max_examples=150, deadline=None)
@given(steps=model_preferences(), top_k=st.sampled_from([1, 4, 16]))
def test_whatever_the_model_prefers_every_closed_word_is_known_and_the_open_one_can_still_become_one(
    steps, top_k
):
    kw = KnownWords(PieceTokenizer(), WORDS, top_k=top_k)
    ids: list[int] = []
    for favourites, banned, seed in steps:
        scores = torch.from_numpy(np.random.default_rng(seed).normal(0.0, 1.0, len(PIECES)).astype(np.float32))
        for rank, t in enumerate(favourites):
            scores[t] = 10.0 - rank
        scores[banned] = float("-inf")
        out = kw(torch.tensor([ids], dtype=torch.long), scores[None].clone())[0]
        assert torch.isfinite(out).any()  # the draft can always go on
        choice = int(out.argmax())
        ids.append(choice)
        if choice == EOS:
            break
    text = PieceTokenizer().decode(ids, skip_special_tokens=True)
    open_word = kw.open_word(ids) if ids[-1] != EOS else ""
    closed = text[: len(text) - len(open_word)]
    assert unknown_words(closed, WORDS) == [], text
    if len(open_word) > 1:
        assert any(w.startswith(open_word.lower()) for w in WORDS) and open_word in (
            open_word.lower(), open_word.upper(), open_word.capitalize()
        ), text
