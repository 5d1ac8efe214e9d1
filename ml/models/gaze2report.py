"""The whole Gaze2Report model and its ``ReportModel`` face.

``Gaze2Report`` (nn.Module): vision encoder → scanpath predictor → gaze graph + GATv2 → projector
→ LoRA-tuned causal LM. The prompt is the model's chat template around

    Image: <global image tokens> Likely findings: <words> Gaze: <one token per fixation>
    <graph summary> [instruction text]

(the findings words are the encoder's likely observations, ``LLMConfig.findings_prompt``),
followed by the report tokens; the loss is on the report tokens only (labels are masked by
length, because SmolLM2's pad token is its eos). Gaze modes (the ablation rows):
``predicted`` (the scanpath is predicted on the fly — Gaze2Report), ``real_gaze`` (a recorded
scanpath), ``image_only`` (no gaze tokens: an R2GenGPT-style baseline) and ``no_gnn`` (fixation
tokens without graph edges). ``Gaze2ReportDrafter`` wraps the module for callers that speak
``ml.types`` (backend, CLI, evaluation).
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.contracts import Decoding, DomainCheck, Draft, EncoderFinding, GazeGraph, GazeMode, StatusError
from ml.models.calibration import Calibration
from ml.models.config import ModelConfig
from ml.models.domain import DomainGate
from ml.models.encoder import VisionEncoder
from ml.models.gnn import GazeGNN, GNNOutput, to_batch
from ml.models.graph import build_graph
from ml.models.projector import Projector
from ml.models.redraft import REDRAFT_TEMPERATURE, agreement, best, well_formed
from ml.models.scanpath import ScanpathPredictor
from ml.models.vocabulary import KnownWords
from ml.types import CHEXPERT_OBSERVATIONS, Image, Scanpath, ScanpathSource

_VIS, _GAZE = "<<VISUAL>>", "<<GAZE>>"

#: Observations a report places on one side and in one zone; the diagnosis words say where.
LOCALISED = frozenset(
    {"Lung Opacity", "Lung Lesion", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
     "Pleural Effusion", "Pleural Other", "Fracture"}
)  # fmt: skip
#: Zone bounds on the image's vertical axis (centroid of the localisation map, 0 = top); in the
#: cohort, upper-zone findings centre at most 0.34 down the image, lower-zone ones mostly below 0.5.
_UPPER, _LOWER = 0.33, 0.52


def finding_place(prob_map: torch.Tensor) -> str:
    """Where a localisation map (h, w; probabilities) puts a finding: e.g. "left upper".

    Frontal radiographs are displayed with the patient's right on the image's left. The side is
    named only when at least 65% of the map's mass (cells above half its peak) lies on one side; the
    zone is the height of that mass's centroid.
    """
    p = prob_map.detach().float()
    w = p * (p >= 0.5 * p.max())
    total = float(w.sum())
    if total <= 0:
        return ""
    half = w.shape[-1] // 2
    left_of_image = float(w[:, :half].sum()) / total
    side = "right" if left_of_image >= 0.65 else "left" if left_of_image <= 0.35 else ""
    ys = (torch.arange(w.shape[0], dtype=torch.float32, device=w.device) + 0.5) / w.shape[0]
    cy = float((w.sum(1) * ys).sum()) / total
    zone = "upper" if cy < _UPPER else "lower" if cy > _LOWER else "mid"
    return f"{side} {zone}".strip()


class GazeModeError(StatusError, ValueError):
    """A gaze mode was unknown or needs a scanpath that was not given."""

    status, code = 422, "bad_gaze"


def gaze_mode(value: GazeMode | str) -> GazeMode:
    """``value`` as a ``GazeMode``; an unknown spelling is a ``GazeModeError``."""
    try:
        return GazeMode(value)
    except ValueError as exc:
        raise GazeModeError(str(exc)) from None


#: The encoder probability at which the diagnosis prompt names a finding ("Likely findings: ...").
LIKELY = 0.5


def preprocess(image: Image, size: int) -> torch.Tensor:
    """An ``Image`` → (1, 1, size, size) float tensor in [0, 1] (display VOI, then resize).

    A large radiograph is first block-averaged to about twice the model size (cheap, and the
    antialiased resize that follows needs no more), so a 3000² image costs milliseconds.
    """
    k = min(image.height, image.width) // (2 * size)
    if k >= 2:
        raw = torch.from_numpy(np.ascontiguousarray(image.pixels, dtype=np.float32))[None, None]
        small = F.avg_pool2d(raw, k)[0, 0].numpy()
        if image.voi_lut is not None:
            small = np.rint(small).astype(image.pixels.dtype)
        image = dataclasses.replace(image, pixels=small)
    pixels = image.display()
    t = torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255.0)[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def scanpath_to_table(scanpath: Scanpath) -> torch.Tensor:
    """Scanpath in image pixels/seconds → (N, 4) normalised x, y and start, end (s from the first)."""
    w, h = scanpath.image_size
    if not scanpath.fixations:
        return torch.zeros(0, 4)
    t0 = scanpath.fixations[0].start
    rows = [(f.x / w, f.y / h, f.start - t0, f.end - t0) for f in scanpath.fixations]
    return torch.tensor(rows, dtype=torch.float32)


def px_per_deg_of(metadata: dict[str, Any] | None) -> float | None:
    """Pixels per degree of visual angle from an image/study's metadata, when it records it."""
    for key in ("px_per_deg", "pixels_per_degree", "image_px_per_deg"):
        value = (metadata or {}).get(key)
        if value:
            return float(value)
    return None


@dataclass
class PromptParts:
    pre: list[int]  # up to the visual tokens
    mid: list[int]  # between the visual and the gaze tokens
    post: list[int]  # after the gaze tokens, up to where the report starts


def build_prompt_parts(tokenizer: Any, system: str, instruction: str) -> PromptParts:
    """Render the LLM's chat template around placeholder markers and tokenise the pieces."""
    user = f"Image: {_VIS}\nGaze: {_GAZE}\n{instruction}"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except (ValueError, AttributeError, TypeError):  # no chat template: plain layout
        text = f"{system}\n\n{user}\n\nReport:\n"
    pre, rest = text.split(_VIS)
    mid, post = rest.split(_GAZE)

    def ids(s: str) -> list[int]:
        return tokenizer(s, add_special_tokens=False).input_ids

    return PromptParts(ids(pre), ids(mid), ids(post))


class Gaze2Report(nn.Module):
    engine: Any = None  # what decodes instead of ml.models.decode when set (serve --engine vllm)

    def __init__(self, cfg: ModelConfig, llm: nn.Module, tokenizer: Any):
        super().__init__()
        self.cfg = cfg
        self.encoder = VisionEncoder(cfg.encoder)
        self.scanpath = ScanpathPredictor(cfg.scanpath, cfg.encoder.dim)
        self.gnn = GazeGNN(cfg.gnn, cfg.encoder.dim)
        llm_dim = llm.get_input_embeddings().weight.shape[1]
        self.projector = Projector(
            cfg.projector, cfg.encoder.dim, cfg.gnn.hidden, llm_dim, cfg.encoder.n_labels
        )
        self.llm = llm
        self.tokenizer = tokenizer
        self.prompt = build_prompt_parts(tokenizer, cfg.llm.system, cfg.llm.instruction)
        self.known_words: KnownWords | None = None  # set from a bundle's words by ``load_bundle``
        # set from the bundle by ``load_bundle``; None: the bundle carries none
        self.domain_gate: DomainGate | None = None
        self.calibration: Calibration | None = None

    # ---- pieces -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.projector.summary.device

    def small_modules(self) -> dict[str, nn.Module]:
        return {
            "encoder": self.encoder,
            "scanpath": self.scanpath,
            "gnn": self.gnn,
            "projector": self.projector,
        }

    def report_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False).input_ids[: self.cfg.llm.max_report_tokens]
        return [*ids, self.tokenizer.eos_token_id]

    def graphs(
        self,
        features: torch.Tensor,
        tables: Sequence[torch.Tensor],
        image_sizes: Sequence[tuple[int, int]],
        edges: Sequence[bool],
        px_per_deg: Sequence[float | None] | None = None,
    ) -> tuple[GNNOutput, list]:
        """Gaze graphs for rows of ``features`` (one table each) through the GNN."""
        ppd = px_per_deg or [None] * len(tables)
        gs = [
            build_graph(features[i], tables[i], image_sizes[i], self.cfg.graph, ppd[i], edges[i])
            for i in range(len(tables))
        ]
        batch = to_batch(gs).to(features.device)
        return self.gnn(batch), gs

    def predict_tables(self, features: torch.Tensor, n: int = 1, seed: int = 0):
        """Predicted scanpaths per image: lists of (k, 3) normalised x, y, duration (s).

        Each is drawn from the predictor's mixtures (seeded, so a draft is reproducible), as in
        training: the per-fixation mode clumps towards the image centre, far tighter than any
        reader's scanpath, and is not what the report model learnt from.
        """
        return self.scanpath.sample(self.scanpath(features), n=n, seed=seed, mean_first=False)

    # ---- the prompt ---------------------------------------------------------------------
    def likely_findings(self, probs: torch.Tensor, loc: torch.Tensor | None = None) -> list[EncoderFinding]:
        """The observations the encoder finds likely (p ≥ ``LIKELY``), each localised one with where
        its localisation map ``loc`` (n_labels, h, w; probabilities) puts it."""
        names = CHEXPERT_OBSERVATIONS if len(probs) == len(CHEXPERT_OBSERVATIONS) else ()
        return [
            EncoderFinding(
                n, round(p, 4), finding_place(loc[j]) if loc is not None and n in LOCALISED else ""
            )
            for j, (n, p) in enumerate(zip(names, probs.tolist(), strict=False))
            if p >= LIKELY and n != "No Finding"
        ]

    def findings_ids(self, probs: torch.Tensor, loc: torch.Tensor | None = None) -> list[int]:
        """Tokens of the diagnosis prompt: ``likely_findings`` in words, e.g. "lung lesion (left upper)"."""
        likely = [
            f"{f.label.lower()} ({f.place})" if f.place else f.label.lower()
            for f in self.likely_findings(probs, loc)
        ]
        text = f" Likely findings: {', '.join(likely) if likely else 'none'}."
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _embed(self, ids: list[int]) -> torch.Tensor:
        emb = self.llm.get_input_embeddings()
        return emb(torch.tensor(ids, dtype=torch.long, device=emb.weight.device))

    def prompt_embeds(
        self,
        features: torch.Tensor,
        tables: Sequence[torch.Tensor | None],
        image_sizes: Sequence[tuple[int, int]],
        modes: Sequence[GazeMode | str],
        px_per_deg: Sequence[float | None] | None = None,
    ) -> tuple[list[torch.Tensor], GNNOutput | None, list]:
        """Per image: the prompt embeddings (T_i, D); also the GNN output and the gaze rows' graphs."""
        modes = [gaze_mode(m) for m in modes]
        dtype = self.llm.get_input_embeddings().weight.dtype
        probs = None
        if self.cfg.projector.label_token or self.cfg.llm.findings_prompt:
            label_logits, loc_logits = self.encoder.heads(features)
            probs = torch.sigmoid(label_logits)
        visual = self.projector.visual(features, probs if self.cfg.projector.label_token else None).to(dtype)
        if self.cfg.llm.findings_prompt:
            loc = torch.sigmoid(loc_logits)
            visual = [
                torch.cat([visual[i], self._embed(self.findings_ids(probs[i], loc[i]))])
                for i in range(len(visual))
            ]
        gaze_rows = [i for i, m in enumerate(modes) if m != GazeMode.IMAGE_ONLY]
        gnn_out, graphs = None, []
        per_row: dict[int, torch.Tensor] = {}
        if gaze_rows:
            for i in gaze_rows:
                if tables[i] is None or len(tables[i]) == 0:
                    raise GazeModeError(f"gaze mode '{modes[i]}' needs a scanpath with at least one fixation")
            ppd = [px_per_deg[i] for i in gaze_rows] if px_per_deg else None
            gnn_out, graphs = self.graphs(
                features[gaze_rows],
                [tables[i] for i in gaze_rows],
                [image_sizes[i] for i in gaze_rows],
                [modes[i] != GazeMode.NO_GNN for i in gaze_rows],
                ppd,
            )
            nodes = self.projector.gaze(gnn_out.nodes).to(dtype)
            summary = self.projector.gaze_summary(gnn_out.pooled).to(dtype)
            for j, i in enumerate(gaze_rows):
                per_row[i] = torch.cat([nodes[gnn_out.batch == j], summary[j : j + 1]], dim=0)
        pre, mid = self._embed(self.prompt.pre), self._embed(self.prompt.mid)
        post = self._embed(self.prompt.post)
        seqs = []
        for i in range(features.shape[0]):
            if i in per_row:
                seqs.append(torch.cat([pre, visual[i], mid, per_row[i], post], dim=0))
            else:
                seqs.append(torch.cat([pre, visual[i], post], dim=0))  # image only: no gaze section
        return seqs, gnn_out, graphs

    # ---- training -----------------------------------------------------------------------
    def forward(
        self,
        images: torch.Tensor | None,
        tables: Sequence[torch.Tensor | None],
        image_sizes: Sequence[tuple[int, int]],
        modes: Sequence[GazeMode | str],
        reports: Sequence[list[int]],
        px_per_deg: Sequence[float | None] | None = None,
        features: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Report-token cross-entropy for a batch; prompt and padding positions carry no loss.

        Give ``images`` (B, 1, S, S), or precomputed encoder ``features`` when the encoder is frozen.
        """
        if features is None:
            if images is None:
                raise ValueError("give images or features")
            enc_trainable = any(p.requires_grad for p in self.encoder.parameters())
            with torch.set_grad_enabled(enc_trainable and torch.is_grad_enabled()):
                features = self.encoder.features(images)
        prompts, _, _ = self.prompt_embeds(features, tables, image_sizes, modes, px_per_deg)
        inputs, labels, mask = self.pack(prompts, reports)
        out = self.llm(inputs_embeds=inputs, attention_mask=mask, labels=labels)
        return {"loss": out.loss, "n_tokens": (labels != -100).sum()}

    def pack(
        self, prompts: list[torch.Tensor], reports: Sequence[list[int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-pad prompt+report embeddings; labels are -100 except on report tokens (by length)."""
        rep = [self._embed(r) for r in reports]
        lengths = [p.shape[0] + r.shape[0] for p, r in zip(prompts, rep, strict=True)]
        T, D = max(lengths), prompts[0].shape[1]
        pad = self._embed([self.tokenizer.pad_token_id])[0]
        inputs = pad.expand(len(prompts), T, D).clone()
        labels = torch.full((len(prompts), T), -100, dtype=torch.long, device=inputs.device)
        mask = torch.zeros(len(prompts), T, dtype=torch.long, device=inputs.device)
        for i, (p, r, ids) in enumerate(zip(prompts, rep, reports, strict=True)):
            n_p, n_r = p.shape[0], r.shape[0]
            inputs[i, :n_p] = p
            inputs[i, n_p : n_p + n_r] = r
            labels[i, n_p : n_p + n_r] = torch.tensor(ids, device=inputs.device)
            mask[i, : n_p + n_r] = 1
        return inputs, labels, mask

    # ---- generation ---------------------------------------------------------------------
    @torch.no_grad()
    def generate_ids(
        self,
        prompt: torch.Tensor,
        decoding: Decoding,
        on_token: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[int]:
        """Decode from one prompt (T, D): greedy/sampling streams through ``on_token``; beams don't."""
        tok = self.tokenizer
        streamer = _TokenStreamer(tok, on_token) if on_token and decoding.num_beams <= 1 else None
        out = self._decode(prompt, decoding, 1, streamer, should_stop)
        ids = _strip_end(out[0].tolist(), tok)
        if on_token and streamer is None:
            on_token(tok.decode(ids, skip_special_tokens=True))
        return ids

    @torch.no_grad()
    def sample_ids(
        self,
        prompt: torch.Tensor,
        decoding: Decoding,
        n: int,
        temperature: float,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[tuple[list[int], bool]]:
        """``n`` drafts sampled from one prompt in one batch (seeded by ``decoding.seed``): each
        draft's token ids and whether it ended (rather than ran out of ``max_new_tokens``)."""
        sampling = dataclasses.replace(decoding, num_beams=1, do_sample=True, temperature=temperature)
        out = self._decode(prompt, sampling, n, None, should_stop)
        ends = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        rows = out.tolist()
        ended = [any(t in ends for t in row) for row in rows]
        return [(_strip_end(row, self.tokenizer), e) for row, e in zip(rows, ended, strict=True)]

    def _decode(self, prompt, decoding, n, streamer, should_stop) -> torch.Tensor:  # noqa: ANN001
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        tok = self.tokenizer

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001
                stop = bool(should_stop and should_stop())
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        gen_cfg = GenerationConfig(
            max_new_tokens=decoding.max_new_tokens,
            num_beams=max(1, decoding.num_beams),
            num_return_sequences=n,
            do_sample=decoding.do_sample,
            temperature=decoding.temperature if decoding.do_sample else None,
            top_p=None,
            top_k=None,
            repetition_penalty=decoding.repetition_penalty,
            no_repeat_ngram_size=decoding.no_repeat_ngram_size,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=None,
        )
        if decoding.do_sample:
            torch.manual_seed(decoding.seed)
        limit = getattr(self.llm.config, "max_position_embeddings", 0) or 0
        if limit and prompt.shape[0] + decoding.max_new_tokens > limit:
            from ml.models.drafter import PromptTooLong

            raise PromptTooLong(
                f"prompt ({prompt.shape[0]} tokens) + max_new_tokens ({decoding.max_new_tokens}) exceed "
                f"the model's context of {limit} tokens"
            )
        extra = [self.known_words] if decoding.known_words and self.known_words else []
        if decoding.num_beams <= 1:  # greedy and sampling: our own loop (ml/models/decode.py)
            from ml.models.decode import decode, processors

            on_step = None
            if streamer is not None:
                streamer.put(torch.empty(0, dtype=torch.long))  # generate()'s (empty) prompt push
                on_step = lambda t: streamer.put(torch.tensor([t]))  # noqa: E731
            if self.engine is not None:  # another engine decodes (ml/models/vllm_engine.py)
                return self.engine.decode(
                    prompt, decoding, n, decoding.do_sample, decoding.temperature,
                    tok.eos_token_id, tok.pad_token_id, on_step, should_stop,
                )  # fmt: skip
            temperature = decoding.temperature if decoding.do_sample else None
            return decode(
                self.llm, prompt, decoding.max_new_tokens, [tok.eos_token_id], tok.pad_token_id,
                processors(decoding, extra, temperature), n, decoding.do_sample, on_step, should_stop,
            )  # fmt: skip
        mask = torch.ones(1, prompt.shape[0], dtype=torch.long, device=prompt.device)
        with warnings.catch_warnings():
            # The prompt is embeddings only: penalties apply to generated tokens, which is what we want.
            warnings.filterwarnings("ignore", message=".*inputs_embeds.*", category=UserWarning)
            return self.llm.generate(
                inputs_embeds=prompt[None],
                attention_mask=mask,
                generation_config=gen_cfg,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_Stop()]) if should_stop else None,
                logits_processor=LogitsProcessorList(extra),
            )


def _strip_end(ids: list[int], tok: Any) -> list[int]:
    """Token ids without the trailing end-of-text / padding."""
    while ids and ids[-1] in (tok.eos_token_id, tok.pad_token_id):
        ids.pop()
    return ids


class _TokenStreamer:
    """Decodes the growing token list and hands out only the new text (safe for multi-byte pieces)."""

    def __init__(self, tokenizer: Any, on_token: Callable[[str], None]):
        self.tok, self.on_token = tokenizer, on_token
        self.ids: list[int] = []
        self.sent = ""
        self.first = True

    def put(self, value: torch.Tensor) -> None:
        if self.first:  # generate() first pushes the prompt ids (empty with inputs_embeds)
            self.first = False
            return
        for t in value.reshape(-1).tolist():
            if t == self.tok.eos_token_id:
                continue
            self.ids.append(t)
        text = self.tok.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return  # an incomplete multi-byte character: wait for the rest
        if len(text) > len(self.sent):
            self.on_token(text[len(self.sent) :])
            self.sent = text

    def end(self) -> None:
        pass


def attach_lora(llm: nn.Module, cfg: ModelConfig) -> nn.Module:
    """Wrap the LLM with fresh LoRA layers on its attention projections (base weights frozen)."""
    from peft import LoraConfig, get_peft_model

    lcfg = LoraConfig(
        r=cfg.llm.lora_r,
        lora_alpha=cfg.llm.lora_alpha,
        lora_dropout=cfg.llm.lora_dropout,
        target_modules=list(cfg.llm.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(llm, lcfg)


class Gaze2ReportDrafter:
    """``ReportModel`` over a ``Gaze2Report`` module: ``ml.types`` in, ``Draft``/``Scanpath`` out.

    ``mode`` is the default gaze mode (a ``GazeMode`` or its spelling); ``generate`` also takes ``mode=``
    per call. With ``mode=None`` a given scanpath means ``real_gaze`` and none means ``predicted``.
    """

    def __init__(self, net: Gaze2Report, identity: dict[str, Any], mode: GazeMode | str | None = None):
        self.net = net.eval()
        self.identity = dict(identity)
        self.mode = None if mode is None else gaze_mode(mode)
        self._lock = threading.RLock()  # one forward/generation at a time per model instance

    def info(self) -> dict[str, Any]:
        mode = self.mode.value if self.mode else "auto"
        return {**self.identity, "gaze_mode": mode, "gaze_modes": list(GazeMode.values())}

    def _features(self, image: Image) -> torch.Tensor:
        x = preprocess(image, self.net.cfg.encoder.image_size).to(self.net.device)
        return self.net.encoder.features(x)

    def _findings(
        self, feats: torch.Tensor, text: str, domain: DomainCheck | None = None
    ) -> list[EncoderFinding]:
        """The encoder's likely findings for a draft, each marked with whether the draft names it.

        Which findings are listed is what the prompt named (raw probability ≥ ``LIKELY``); the
        probability shown is the calibrated one, pulled to the base rate out of domain
        (``ml.models.calibration``)."""
        from ml.metrics.labeler import label_report

        label_logits, loc_logits = self.net.encoder.heads(feats)
        said = label_report(text)
        found = self.net.likely_findings(torch.sigmoid(label_logits[0]), torch.sigmoid(loc_logits[0]))
        if self.net.calibration is not None:
            shown = self.net.calibration.probabilities(label_logits[0], domain).tolist()
            names = list(CHEXPERT_OBSERVATIONS)
            for f in found:
                f.probability = round(shown[names.index(f.label)], 4)
        for f in found:
            f.in_draft = said.get(f.label) == 1
        return found

    def _domain(self, feats: torch.Tensor) -> DomainCheck | None:
        gate = self.net.domain_gate
        if gate is None:
            return None
        return gate.check(feats, self.net.encoder.heads(feats)[0])[0]

    @torch.no_grad()
    def check_domain(self, image: Image) -> DomainCheck | None:
        """Whether ``image`` looks like the training images (None: the bundle has no domain gate)."""
        with self._lock:
            return self._domain(self._features(image))

    def _to_scanpath(self, xyd: torch.Tensor, image: Image) -> Scanpath:
        w, h = image.size
        arr = xyd.cpu().double().numpy().copy()
        arr[:, 0] *= w
        arr[:, 1] *= h
        return Scanpath.from_array(arr, (w, h), ScanpathSource.PREDICTED, reader="gaze2report")

    @torch.no_grad()
    def predict_scanpaths(self, image: Image, n: int = 1, seed: int = 0) -> list[Scanpath]:
        with self._lock:
            return self._predict_scanpaths(image, n, seed)

    def _predict_scanpaths(self, image: Image, n: int, seed: int) -> list[Scanpath]:
        feats = self._features(image)
        return [self._to_scanpath(p, image) for p in self.net.predict_tables(feats, n=n, seed=seed)[0]]

    @torch.no_grad()
    def gaze_graph(
        self, image: Image, scanpath: Scanpath, mode: GazeMode | str = GazeMode.PREDICTED
    ) -> GazeGraph:
        with self._lock:
            return self._gaze_graph(image, scanpath, mode)

    def _gaze_graph(self, image: Image, scanpath: Scanpath, mode: GazeMode | str) -> GazeGraph:
        if not scanpath.fixations:
            raise GazeModeError("the scanpath has no fixations")
        feats = self._features(image)
        table = _table(scanpath)
        out, gs = self.net.graphs(
            feats, [table], [image.size], [gaze_mode(mode) != GazeMode.NO_GNN], [px_per_deg_of(image.metadata)]
        )
        g = gs[0]
        sp = _kept(scanpath, g.kept)
        return GazeGraph(
            scanpath=sp,
            node_attention=[float(a) for a in out.node_attention.cpu()],
            edges=[(int(s), int(t)) for s, t in g.edge_index.T.tolist()],
            edge_attention=[float(a) for a in out.edge_attention.cpu()],
            edge_types=list(g.edge_types),
        )

    @torch.no_grad()
    def generate(
        self,
        image: Image,
        scanpath: Scanpath | None = None,
        decoding: Decoding | None = None,
        on_token: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        mode: GazeMode | str | None = None,
    ) -> Draft:
        with self._lock:
            return self._generate(image, scanpath, decoding or Decoding(), on_token, should_stop, mode)

    def _generate(self, image, scanpath, decoding, on_token, should_stop, mode) -> Draft:  # noqa: ANN001
        mode = gaze_mode(mode or self.mode or (GazeMode.REAL_GAZE if scanpath is not None else GazeMode.PREDICTED))
        if mode == GazeMode.REAL_GAZE and (scanpath is None or not scanpath.fixations):
            raise GazeModeError("gaze mode 'real_gaze' needs a recorded scanpath with fixations")
        feats = self._features(image)
        domain = self._domain(feats)
        used: Scanpath | None = None
        table = None
        if mode == GazeMode.PREDICTED or (mode == GazeMode.NO_GNN and (scanpath is None or not scanpath.fixations)):
            xyd = self.net.predict_tables(feats, n=1, seed=decoding.seed)[0][0]
            used = self._to_scanpath(xyd, image)
        elif mode in (GazeMode.REAL_GAZE, GazeMode.NO_GNN):
            used = scanpath
        if used is not None:
            table = _table(used)
        prompts, gnn_out, graphs = self.net.prompt_embeds(
            feats, [table], [image.size], [mode], [px_per_deg_of(image.metadata)]
        )
        attention: list[float] = []
        if gnn_out is not None and used is not None:
            attention = [float(a) for a in gnn_out.node_attention.cpu()]
            used = _kept(used, graphs[0].kept)
        ids = self.net.generate_ids(prompts[0], decoding, on_token, should_stop)
        text = self.net.tokenizer.decode(ids, skip_special_tokens=True).strip()
        findings = self._findings(feats, text, domain)
        redrafted = False
        stopped = bool(should_stop and should_stop())
        if decoding.redraft > 0 and not stopped and not agreement(text, findings).complete:
            better = self._redraft(prompts[0], decoding, findings, text, should_stop)
            if better is not None:
                ids, redrafted = better, True
                text = self.net.tokenizer.decode(ids, skip_special_tokens=True).strip()
                findings = self._findings(feats, text, domain)
        return Draft(
            findings=findings,
            text=text,
            scanpath=used,
            attention=attention,
            model={**self.info(), "gaze_mode": mode.value},
            n_tokens=len(ids),
            redrafted=redrafted,
            domain=domain,
        )

    def _redraft(self, prompt, decoding, findings, first, should_stop) -> list[int] | None:  # noqa: ANN001
        """Token ids of the sampled draft that agrees with ``findings`` better than ``first`` does
        (``ml.models.redraft``), or None when none does."""
        samples = self.net.sample_ids(prompt, decoding, decoding.redraft, REDRAFT_TEMPERATURE, should_stop)
        if should_stop and should_stop():
            return None
        tok = self.net.tokenizer
        texts = [tok.decode(ids, skip_special_tokens=True).strip() for ids, _ in samples]
        usable = [i for i, (_, ended) in enumerate(samples) if ended and well_formed(texts[i])]
        pick = best([first, *(texts[i] for i in usable)], findings)
        return samples[usable[pick - 1]][0] if pick > 0 else None


def _kept(scanpath: Scanpath, kept: torch.Tensor) -> Scanpath:
    """The fixations that became graph nodes (a long recorded scanpath is reduced)."""
    idx = kept.tolist()
    if idx == list(range(len(scanpath))):
        return scanpath
    return Scanpath(
        [scanpath.fixations[i] for i in idx], scanpath.image_size, scanpath.source, scanpath.reader
    )


def _table(scanpath: Scanpath) -> torch.Tensor:
    """A scanpath's normalised table (by its own image size, so any resolution maps onto the image)."""
    table = scanpath_to_table(scanpath)
    if table.numel() == 0:
        raise GazeModeError("the scanpath has no fixations")
    return table
