"""Known words: decoding that only writes words a chest radiograph report has used.

A 135M model tuned for a few hundred steps spells the words it was taught most of the time, and
sometimes not ("effussion", "pneumothorx"): a token that starts a word well can finish it badly.
``KnownWords`` is a ``LogitsProcessor`` that, at each step, keeps only the likeliest tokens whose
letters still spell (a prefix of) a known word and close only known words; the model still chooses
among them, so the text is its own. The words are the training reports' (``vocabulary.txt`` in a
bundle) plus the Indiana University reports'. Numbers, punctuation and one-letter words pass.

A word is known in its lower-case, Capitalised or UPPER-CASE spelling only: the list is lower
case, and matching it case-blind let "pneumothorace" close with the token "S" and "pleuropar"
run on with "ENCHYMAL" (:func:`known_spelling`). A word that only a token a repetition rule has
banned can finish gets that token back: a repeated token is better than a non-word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import LogitsProcessor

_LETTERS = re.compile(r"[a-z]+")
_WORD = re.compile(r"[A-Za-z]+")
_TRAILING = re.compile(r"[A-Za-z]+$")
#: IU report words seen at least this often count as known (one-off words include typos).
IU_MIN_COUNT = 2


def report_words(texts: Iterable[str]) -> set[str]:
    """Lower-case words (runs of ASCII letters) of some reports."""
    out: set[str] = set()
    for t in texts:
        out.update(_LETTERS.findall(t.lower()))
    return out


def iu_words() -> set[str]:
    """Words of the embedded Indiana University reports (empty when the asset is not fetched)."""
    from ml import assets
    from ml.cohort.reports import iu_statistics

    if not assets.is_fetched("iu_reports"):
        return set()
    return {w for w, n in iu_statistics().vocabulary.items() if n >= IU_MIN_COUNT}


def cased(word: str) -> bool:
    """Whether ``word`` (letters) is lower case, Capitalised or UPPER CASE, or begins as one of them."""
    return word.islower() or word.isupper() or (word[0].isupper() and word[1:].islower())


def known_spelling(word: str, words: frozenset[str] | set[str]) -> bool:
    """Whether ``word`` (a run of letters) is a known word in an accepted case (one letter always is)."""
    return len(word) <= 1 or (word.lower() in words and cased(word))


def unknown_words(text: str, words: frozenset[str] | set[str]) -> list[str]:
    """The words of ``text`` that :class:`KnownWords` would never let a draft write."""
    return [w for w in _WORD.findall(text) if not known_spelling(w, words)]


def read_words(path: Path) -> set[str]:
    return {w.strip() for w in path.read_text().splitlines() if w.strip()}


def write_words(path: Path, words: Iterable[str]) -> None:
    path.write_text("".join(f"{w}\n" for w in sorted(set(words))))


class KnownWords(LogitsProcessor):
    """Masks every token but the ``top_k`` likeliest that keep each word known (see module doc).

    If none of them does (the model wants to close "pneumothorace", and the lone "s" that makes
    "pneumothoraces" is far down its list, since BPE writes "aces" as one token), every token that
    does is kept (found once per open word and cached: a noisy image makes such steps common); if
    none does, the step is left as it was: a dead end must not stop a draft.
    """

    #: Open words whose full list of allowed tokens is kept (each list is one pass over the vocabulary).
    CACHE = 4096

    def __init__(self, tokenizer, words: Iterable[str], top_k: int = 16):  # noqa: ANN001
        self.tok = tokenizer
        self.words = frozenset(words)
        self.prefixes = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))
        self.top_k = top_k
        self.eos = tokenizer.eos_token_id
        self._piece: dict[int, str] = {}
        self._every: dict[tuple[str, int], torch.Tensor] = {}

    def piece(self, token: int) -> str:
        if token not in self._piece:
            self._piece[token] = self.tok.decode([token])
        return self._piece[token]

    def allowed(self, partial: str, token: int) -> bool:
        """Whether ``token`` may follow a word begun as ``partial`` (letters, maybe empty)."""
        if token == self.eos:
            return known_spelling(partial, self.words)
        text = partial + self.piece(token)
        for m in _WORD.finditer(text):
            word = m.group()
            if len(word) <= 1:
                continue
            if m.end() == len(text):  # still open: it must begin a known word, in an accepted case
                if word.lower() not in self.prefixes or not cased(word):
                    return False
            elif not known_spelling(word, self.words):
                return False
        return True

    def open_word(self, ids: list[int]) -> str:
        """The letters of the word the text ends in (empty after a space or punctuation); a long
        word written letter by letter spans many tokens, so the window grows until it holds it all."""
        n = 12
        while True:
            tail = self.tok.decode(ids[-n:], skip_special_tokens=True)
            m = _TRAILING.search(tail)
            if m is None:
                return ""
            if m.start() > 0 or n >= len(ids):
                return m.group()
            n *= 2

    def every_allowed(self, partial: str, vocab: int) -> torch.Tensor:
        """All tokens (ids below ``vocab``) that may follow ``partial``, cached per open word."""
        key = (partial, vocab)
        found = self._every.get(key)
        if found is None:
            found = torch.tensor([t for t in range(vocab) if self.allowed(partial, t)], dtype=torch.long)
            if len(self._every) < self.CACHE:
                self._every[key] = found
        return found

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        out = torch.full_like(scores, float("-inf"))
        for row in range(scores.shape[0]):
            partial = self.open_word(input_ids[row].tolist())
            finite = torch.isfinite(scores[row])
            top = scores[row].topk(min(self.top_k, scores.shape[-1])).indices.tolist()
            live = [t for t in top if finite[t] and self.allowed(partial, t)]
            if live:
                out[row, live] = scores[row, live]
                continue
            every = self.every_allowed(partial, scores.shape[-1]).to(scores.device)
            live_every = every[finite[every]]
            if live_every.numel():
                out[row, live_every] = scores[row, live_every]
            elif every.numel():  # only banned tokens (-inf: a repetition rule) keep the word known: they win
                out[row, every] = scores[row][finite].min() if bool(finite.any()) else 0.0
            else:  # nothing at all can: leave the step alone rather than stall the draft
                out[row] = scores[row]
        return out
