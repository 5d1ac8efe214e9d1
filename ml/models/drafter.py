"""The untrained drafter: the base LLM with a fixed instruction, served before a trained bundle exists.

It implements ``ml.contracts.ReportModel`` so the backend, CLI and GUI work end to end from day
one, and says loudly that it is untrained (``info()["untrained"] is True``). It has no scanpath
predictor and no GNN: those calls raise ``Unsupported`` (the backend answers 409), and it
ignores gaze. Drafts are deterministic under greedy decoding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ml.contracts import Decoding, DomainCheck, Draft, GazeGraph, StatusError
from ml.types import Image, Scanpath

SYSTEM = "You are an experienced radiologist. You write concise, structured chest X-ray reports."
INSTRUCTION = (
    "Write the report for this {view}chest radiograph. Use exactly two sections: FINDINGS: and IMPRESSION:."
)
#: The draft is steered into the report format by starting the answer with the first section.
ANSWER_PREFIX = "FINDINGS:"


class Unsupported(StatusError, NotImplementedError):
    """The loaded model cannot do this (the backend answers 409 with the message)."""

    status, code = 409, "unsupported"


class PromptTooLong(StatusError, ValueError):
    """Prompt plus ``max_new_tokens`` exceed the model's context (the backend answers 422)."""

    status, code = 422, "context_too_long"


class _Stream:
    """A transformers streamer that turns new token ids into text deltas for ``on_token``.

    Decodes the whole continuation each step and emits what is new, holding back an incomplete
    UTF-8 sequence (shown as U+FFFD) until the next token completes it.
    """

    def __init__(self, tokenizer: Any, on_token: Callable[[str], None] | None) -> None:
        self.tokenizer, self.on_token = tokenizer, on_token
        self.ids: list[int] = []
        self.sent = 0
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first pushes the prompt
            self._prompt_seen = True
            return
        self.ids.extend(int(t) for t in value.reshape(-1).tolist())
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        if len(text) > self.sent and self.on_token is not None:
            self.on_token(text[self.sent :])
        self.sent = max(self.sent, len(text))


class Drafter:
    """Base-LLM report drafter (``ReportModel``); ``info()`` marks it untrained."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        base_identity: dict[str, Any] | None = None,
        note: str = "",
        device: str = "cpu",
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.base = dict(base_identity or {"name": type(model).__name__, "sha256": ""})
        self.note = (
            note
            or "no trained bundle: the base LLM drafts from a fixed instruction, without looking at the pixels"
        )
        self.device = device
        self.cpu_scheme = "none"  # set by load() when the weights were converted for CPU
        self._lock = threading.Lock()  # one generation at a time per model instance
        self._tok_lock = threading.Lock()  # encode() may run on a request thread (check) too

    @classmethod
    def load(
        cls,
        llm: str | None = None,
        device: str = "cpu",
        dtype: Any = None,
        note: str = "",
        cpu_scheme: str = "none",
    ) -> Drafter:
        """Load the base LLM (default: the embedded SmolLM2) and wrap it.

        ``cpu_scheme`` (``ml.models.fastcpu.SCHEMES``) converts the model for fast CPU decoding
        when it runs on the CPU; it is part of ``info()`` because int4/bf16 can change drafts.
        """
        from ml.models.llm import identity, load_llm

        model, tokenizer = load_llm(llm, dtype=dtype, device=device)
        scheme = "none"
        if model.device.type == "cpu" and cpu_scheme != "none":
            from ml.models.fastcpu import optimize_for_cpu

            optimize_for_cpu(model, cpu_scheme)
            scheme = cpu_scheme
        drafter = cls(model, tokenizer, base_identity=identity(llm), note=note, device=str(model.device))
        drafter.cpu_scheme = scheme
        return drafter

    # -- ReportModel -------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "name": "untrained-drafter",
            "kind": "drafter",
            "version": "0",
            "base_model": self.base.get("name", ""),
            "base_source": self.base.get("source", ""),
            "sha256": self.base.get("sha256", ""),
            "untrained": True,
            "uses_image": False,
            "uses_gaze": False,
            "note": self.note,
            "inference": {"device": self.device, "cpu_scheme": self.cpu_scheme},
        }

    @property
    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def check_domain(self, image: Image) -> DomainCheck | None:
        return None  # the base LLM never looks at the pixels: there is no domain to be outside of

    def predict_scanpaths(self, image: Image, n: int = 1, seed: int = 0) -> list[Scanpath]:
        raise Unsupported(
            "the untrained drafter has no scanpath predictor: start the backend with a trained --bundle"
        )

    def gaze_graph(self, image: Image, scanpath: Scanpath) -> GazeGraph:
        raise Unsupported("the untrained drafter has no gaze GNN: start the backend with a trained --bundle")

    def prompt(self, image: Image) -> str:
        view = f"{image.view_position} " if image.view_position else ""
        user = INSTRUCTION.format(view=view)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + ANSWER_PREFIX

    def _encode(self, image: Image) -> Any:
        with self._tok_lock:
            return self.tokenizer(self.prompt(image), return_tensors="pt", add_special_tokens=False)

    def _check_length(self, n_prompt: int, dec: Decoding) -> None:
        if n_prompt + dec.max_new_tokens > self.context_length:
            raise PromptTooLong(
                f"prompt ({n_prompt} tokens) + max_new_tokens ({dec.max_new_tokens}) exceed "
                f"the model's context of {self.context_length} tokens"
            )

    def check(self, image: Image, scanpath: Scanpath | None = None, decoding: Decoding | None = None) -> None:
        """Cheap pre-flight validation (no generation): raises ``PromptTooLong``.

        The backend calls it before a stream starts, so the client gets a plain 422 instead of an
        error event.
        """
        self._check_length(int(self._encode(image)["input_ids"].shape[1]), decoding or Decoding())

    def generate(
        self,
        image: Image,
        scanpath: Scanpath | None = None,
        decoding: Decoding | None = None,
        on_token: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Draft:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        dec = decoding or Decoding()
        enc = self._encode(image)
        n_prompt = int(enc["input_ids"].shape[1])
        self._check_length(n_prompt, dec)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                stop = bool(should_stop and should_stop())
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        if on_token is not None:
            on_token(ANSWER_PREFIX)
        stream = _Stream(self.tokenizer, on_token) if dec.num_beams == 1 else None
        kwargs: dict[str, Any] = {
            "max_new_tokens": dec.max_new_tokens,
            "num_beams": dec.num_beams,
            "repetition_penalty": dec.repetition_penalty,
            "no_repeat_ngram_size": dec.no_repeat_ngram_size,
            "do_sample": dec.do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
            "streamer": stream,
        }
        if dec.do_sample:
            kwargs["temperature"] = dec.temperature
        device = self.model.device
        with self._lock, torch.inference_mode():
            if dec.do_sample:
                torch.manual_seed(dec.seed)
            out = self.model.generate(
                input_ids=enc["input_ids"].to(device),
                attention_mask=enc["attention_mask"].to(device),
                **kwargs,
            )
        new = out[0, n_prompt:].tolist()
        body = self.tokenizer.decode(new, skip_special_tokens=True)
        if stream is None and on_token is not None and body:
            on_token(body)  # beam search does not stream: send the whole text at the end
        text = (ANSWER_PREFIX + body).strip()
        return Draft(text=text, scanpath=None, attention=[], model=self.info(), n_tokens=len(new))
