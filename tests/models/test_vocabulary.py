"""Known-words decoding: a draft closes only words reports have used."""

from __future__ import annotations

import numpy as np
import torch

from ml.contracts import Decoding
from ml.models.gaze2report import Gaze2ReportDrafter
from ml.models.vocabulary import KnownWords, read_words, report_words, write_words
from ml.types import Image

PIECES = [" pleural", " eff", "usion", "ussion", ".", " 12", " mm", "<eos>", " x", " is"]


class PieceTokenizer:
    """Token i decodes to PIECES[i], as a byte-level BPE tokenizer decodes its pieces."""

    eos_token_id = PIECES.index("<eos>")

    def decode(self, ids, skip_special_tokens: bool = False) -> str:  # noqa: ANN001
        return "".join("" if (i == self.eos_token_id and skip_special_tokens) else PIECES[i] for i in ids)


def _id(piece: str) -> int:
    return PIECES.index(piece)


WORDS = {"pleural", "effusion", "mm", "is"}


def test_a_word_may_only_continue_towards_and_close_as_a_known_word():
    kw = KnownWords(PieceTokenizer(), WORDS)
    assert kw.allowed("", _id(" eff")) and kw.allowed("eff", _id("usion"))
    assert not kw.allowed("eff", _id("ussion"))  # "effussion" is no prefix of a known word
    assert not kw.allowed("eff", _id("."))  # closing the unknown word "eff"
    assert kw.allowed("effusion", _id("."))
    assert not kw.allowed("eff", kw.eos) and kw.allowed("effusion", kw.eos) and kw.allowed("", kw.eos)
    assert kw.allowed("", _id(" 12")) and kw.allowed("", _id(" mm"))  # numbers and units pass
    assert kw.allowed("", _id(" x"))  # one-letter words pass (unknown to the list or not)


def test_the_likeliest_allowed_token_wins_and_a_dead_end_is_left_alone():
    kw = KnownWords(PieceTokenizer(), WORDS, top_k=3)
    ids = torch.tensor([[_id(" pleural"), _id(" eff")]])
    scores = torch.full((1, len(PIECES)), -5.0)
    scores[0, _id("ussion")], scores[0, _id("usion")], scores[0, _id(".")] = 3.0, 2.0, 1.0
    out = kw(ids, scores.clone())
    assert int(out.argmax()) == _id("usion")
    assert out[0, _id("usion")] == 2.0  # the model's own score, not a new one
    assert torch.isinf(out[0, _id("ussion")]) and torch.isinf(out[0, _id(" is")])  # outside top_k too
    # Nothing among the top 3 is allowed: the search widens, and the known word still wins.
    far = torch.full((1, len(PIECES)), -5.0)
    far[0, _id("ussion")], far[0, _id(".")], far[0, kw.eos] = 3.0, 2.0, 1.0
    assert int(kw(ids, far.clone()).argmax()) == _id("usion")
    # Nothing at all can make "eff" a known word: the scores pass unchanged rather than stall.
    stuck = KnownWords(PieceTokenizer(), {"pleural", "is"}, top_k=3)
    assert torch.equal(stuck(ids, far.clone()), far)


def test_words_round_trip_and_come_lowercased_from_reports(tmp_path):
    words = report_words(["FINDINGS: Small right pleural effusion, 12 mm.", "No pneumothorax."])
    assert words == {"findings", "small", "right", "pleural", "effusion", "mm", "no", "pneumothorax"}
    write_words(tmp_path / "v.txt", words)
    assert read_words(tmp_path / "v.txt") == words


class _Recorder(KnownWords):
    def __init__(self, tokenizer):  # noqa: ANN001
        super().__init__(tokenizer, {"a"})
        self.calls = 0

    def __call__(self, input_ids, scores):  # noqa: ANN001
        self.calls += 1
        return scores


def test_generation_uses_known_words_unless_the_decoding_turns_it_off(tiny_net):
    def _image():
        return Image(pixels=np.random.default_rng(0).uniform(0, 1000, (64, 80)).astype(np.float32))

    tiny_net.known_words = rec = _Recorder(tiny_net.tokenizer)
    drafter = Gaze2ReportDrafter(tiny_net, {"name": "t"})
    drafter.generate(_image(), decoding=Decoding(max_new_tokens=4, no_repeat_ngram_size=0))
    assert rec.calls >= 1
    before = rec.calls
    drafter.generate(_image(), decoding=Decoding(max_new_tokens=4, known_words=False))
    assert rec.calls == before
