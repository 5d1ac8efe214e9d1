"""Scanpath predictor after Gazeformer / MedGaze: predicts a reader's fixations from patch features.

A transformer decoder with L learned fixation queries attends over the patch features (plus a
2-D position embedding) and predicts, for every query in parallel (non-autoregressive, so one
forward pass per image — fast on CPU): a validity probability (is there an i-th fixation?) and a
K-component Gaussian mixture over (x, y, log duration), x and y normalised to [0, 1] of the
image. Training minimises the negative log-likelihood of recorded scanpaths plus the validity
BCE; sampling the mixtures gives several plausible scanpaths for one image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ml.models.config import ScanpathConfig
from ml.models.encoder import grid_centres

#: Component count of the per-fixation Gaussian mixture.
N_MIX = 3


def sincos_2d(xy: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin/cos embedding of normalised (x, y) positions (..., 2) → (..., dim)."""
    quarter = dim // 4
    freqs = torch.exp(
        torch.arange(quarter, device=xy.device, dtype=torch.float32) * (-math.log(100.0) / quarter)
    )
    ang = xy[..., :, None] * freqs * 2 * math.pi  # (..., 2, quarter)
    emb = torch.cat([ang.sin(), ang.cos()], dim=-1).flatten(-2)
    return F.pad(emb, (0, dim - emb.shape[-1]))


@dataclass
class ScanpathOutput:
    valid_logits: torch.Tensor  # (B, L)
    mix_logits: torch.Tensor  # (B, L, K)
    mu: torch.Tensor  # (B, L, K, 3): x, y in [0,1], log duration
    log_sigma: torch.Tensor  # (B, L, K, 3)


class ScanpathPredictor(nn.Module):
    def __init__(self, cfg: ScanpathConfig, feature_dim: int):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.inp = nn.Linear(feature_dim, d)
        self.queries = nn.Parameter(torch.randn(cfg.max_len, d) * 0.02)
        layer = nn.TransformerDecoderLayer(
            d, cfg.n_heads, 4 * d, cfg.dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, cfg.n_layers)
        self.norm = nn.LayerNorm(d)
        self.valid_head = nn.Linear(d, 1)
        self.mix_head = nn.Linear(d, N_MIX)
        self.mu_head = nn.Linear(d, N_MIX * 3)
        self.sigma_head = nn.Linear(d, N_MIX * 3)

    def forward(self, features: torch.Tensor) -> ScanpathOutput:
        b, c, h, w = features.shape
        mem = self.inp(features.flatten(2).transpose(1, 2))
        mem = mem + sincos_2d(grid_centres(h, w, features.device), mem.shape[-1])
        q = self.queries.unsqueeze(0).expand(b, -1, -1)
        x = self.norm(self.decoder(q, mem))
        L = self.cfg.max_len
        mu = self.mu_head(x).view(b, L, N_MIX, 3)
        mu = torch.cat([torch.sigmoid(mu[..., :2]), mu[..., 2:] - 1.0], dim=-1)  # log duration ~ -1 (0.37 s)
        log_sigma = self.sigma_head(x).view(b, L, N_MIX, 3).clamp(self.cfg.min_log_sigma, 2.0)
        return ScanpathOutput(self.valid_head(x).squeeze(-1), self.mix_head(x), mu, log_sigma)

    def loss(
        self, out: ScanpathOutput, targets: torch.Tensor, lengths: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """NLL of (x, y, log duration) on valid positions + validity BCE on all L positions.

        ``targets`` (B, L, 3): normalised x, y and log duration; ``lengths`` (B,): fixations per row.
        """
        L = self.cfg.max_len
        pos = torch.arange(L, device=targets.device)
        valid = (pos[None, :] < lengths[:, None]).float()
        bce = F.binary_cross_entropy_with_logits(out.valid_logits, valid)
        t = targets[:, :L, None, :]  # (B, L, 1, 3)
        z = (t - out.mu) / out.log_sigma.exp()
        log_n = (-0.5 * z.pow(2) - out.log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)  # (B, L, K)
        log_p = torch.logsumexp(F.log_softmax(out.mix_logits, -1) + log_n, dim=-1)  # (B, L)
        nll = -(log_p * valid).sum() / valid.sum().clamp_min(1.0)
        return {"loss": nll + bce, "nll": nll.detach(), "valid_bce": bce.detach()}

    @torch.no_grad()
    def sample(
        self, out: ScanpathOutput, n: int = 1, seed: int = 0, mean_first: bool = True
    ) -> list[list[torch.Tensor]]:
        """Per image, ``n`` scanpaths as (k, 3) tensors of normalised x, y and duration in seconds.

        The first one is the mode (most likely component's mean, length from the validity
        threshold) when ``mean_first``; the rest are drawn from the mixtures.
        """
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        b, L = out.valid_logits.shape
        p_valid = torch.sigmoid(out.valid_logits).cpu()
        mix = F.softmax(out.mix_logits, -1).cpu()
        mu, sig = out.mu.cpu().float(), out.log_sigma.exp().cpu().float()
        result: list[list[torch.Tensor]] = []
        for i in range(b):
            paths = []
            for j in range(n):
                if j == 0 and mean_first:
                    k = mix[i].argmax(-1)
                    xyd = mu[i, torch.arange(L), k]
                    keep = p_valid[i] >= self.cfg.stop_threshold
                else:
                    k = torch.multinomial(mix[i], 1, generator=gen).squeeze(-1)
                    eps = torch.randn(L, 3, generator=gen) * self.cfg.sample_temperature
                    xyd = mu[i, torch.arange(L), k] + eps * sig[i, torch.arange(L), k]
                    keep = torch.rand(L, generator=gen) < p_valid[i]
                length = int(torch.cumprod(keep.long(), 0).sum().item())  # stop at the first invalid
                length = max(length, 1)
                xyd = xyd[:length].clone()
                xyd[:, :2] = xyd[:, :2].clamp(0.0, 1.0)
                xyd[:, 2] = xyd[:, 2].clamp(-4.0, 1.5).exp()
                paths.append(xyd)
            result.append(paths)
        return result


def scanpath_targets(
    paths: list[torch.Tensor], max_len: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack (k, 3) normalised x, y, duration-seconds paths into (B, L, 3) log-duration targets + lengths."""
    out = torch.zeros(len(paths), max_len, 3, device=device)
    lengths = torch.zeros(len(paths), dtype=torch.long, device=device)
    for i, p in enumerate(paths):
        k = min(len(p), max_len)
        if k:
            out[i, :k, :2] = p[:k, :2]
            out[i, :k, 2] = p[:k, 2].clamp_min(0.02).log()
        lengths[i] = k
    return out, lengths
