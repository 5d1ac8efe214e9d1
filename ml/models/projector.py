"""Projectors into the LLM's embedding space: pooled global image tokens and visual-gaze tokens."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ml.models.config import ProjectorConfig


def _mlp(din: int, hidden: int, dout: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(din, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dout))


class Projector(nn.Module):
    """``visual``: (B, C, h, w) → (B, g, D) global tokens; ``gaze``: (N, H) node/summary → (N, D)."""

    def __init__(
        self, cfg: ProjectorConfig, feature_dim: int, gnn_dim: int, llm_dim: int, n_labels: int = 14
    ):
        super().__init__()
        self.cfg = cfg
        side = int(math.isqrt(cfg.global_tokens))
        if side * side != cfg.global_tokens or side < 1:
            raise ValueError(f"projector.global_tokens must be a square number, got {cfg.global_tokens}")
        self.side = side
        self.visual_mlp = _mlp(feature_dim, cfg.hidden, llm_dim, cfg.dropout)
        self.gaze_mlp = _mlp(gnn_dim, cfg.hidden, llm_dim, cfg.dropout)
        self.visual_pos = nn.Parameter(torch.zeros(cfg.global_tokens, llm_dim))
        self.summary = nn.Parameter(torch.zeros(llm_dim))  # marks the graph summary token
        self.label_mlp = _mlp(n_labels, cfg.hidden, llm_dim, cfg.dropout) if cfg.label_token else None
        if cfg.label_token and cfg.per_label_tokens:
            # Disease tokens (PromptMRG): each observation mixes a "present" and an "absent" embedding
            # by its probability, so the LLM can attend to one finding at a time.
            self.present = nn.Parameter(torch.randn(n_labels, llm_dim) * 0.02)
            self.absent = nn.Parameter(torch.randn(n_labels, llm_dim) * 0.02)

    def visual(self, features: torch.Tensor, label_probs: torch.Tensor | None = None) -> torch.Tensor:
        """(B, g [+1], D): pooled grid tokens, plus the finding-probability token when configured."""
        pooled = F.adaptive_avg_pool2d(features, self.side).flatten(2).transpose(1, 2)
        tokens = self.visual_mlp(pooled) + self.visual_pos
        if self.label_mlp is not None:
            if label_probs is None:
                raise ValueError("projector.label_token needs the encoder's label probabilities")
            tokens = torch.cat([tokens, self.label_mlp(label_probs)[:, None]], dim=1)
            if self.cfg.per_label_tokens:
                p = label_probs[..., None]
                tokens = torch.cat([tokens, p * self.present + (1 - p) * self.absent], dim=1)
        return tokens

    def gaze(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.gaze_mlp(nodes)

    def gaze_summary(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.gaze_mlp(pooled) + self.summary
