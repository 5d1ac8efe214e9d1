"""Vision encoders: an image (B, 1, S, S) in [0, 1] → a patch feature map (B, dim, h, w).

The default is a compact CNN that trains on a couple of CPU cores; it is pre-trained on the
cohort with multi-label findings plus a localisation map per finding as an auxiliary task (so
its patches know *where* things are, which the scanpath predictor and the foveal pooling need).
A local Hugging Face vision model or a timm model plugs in through ``EncoderConfig.kind``.

The CNN sees its input centred on the training set's mean image and scaled by its standard
deviation (``VisionEncoder.fit_input_norm``; buffers, so a bundle carries them) and normalises
with BatchNorm, whose statistics span the batch. Chest radiographs share most of their anatomy, so
what tells a finding apart is a small difference from the typical image: per-image normalisation
(GroupNorm) of raw [0, 1] pixels erased exactly that difference and the encoder learnt the prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ml.models.config import EncoderConfig


class EncoderError(RuntimeError):
    """A configured backbone cannot be built (missing package or folder)."""


@dataclass
class EncoderOutput:
    features: torch.Tensor  # (B, dim, h, w)
    label_logits: torch.Tensor  # (B, n_labels)
    loc_logits: torch.Tensor  # (B, n_labels, h, w)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.SiLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.SiLU(inplace=True),
    )


class CompactCNN(nn.Module):
    """Stem (stride 2) + stages; all but the last halve the resolution: stride 2**len(channels)."""

    def __init__(self, channels: tuple[int, ...], dim: int):
        super().__init__()
        stem = channels[0] // 2 or 8
        self.stem = nn.Sequential(
            nn.Conv2d(1, stem, 3, stride=2, padding=1, bias=False), nn.SiLU(inplace=True)
        )
        stages, cin = [], stem
        for i, c in enumerate(channels):
            stages.append(_block(cin, c, 2 if i < len(channels) - 1 else 1))
            cin = c
        self.stages = nn.Sequential(*stages)
        self.proj = nn.Conv2d(cin, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stages(self.stem(x)))


class HFBackbone(nn.Module):
    """A local Hugging Face vision model (ViT-like tokens or a CNN feature map) + 1x1 projection."""

    def __init__(self, name_or_path: str, dim: int, freeze: bool):
        super().__init__()
        try:
            from transformers import AutoModel
        except ImportError as exc:  # pragma: no cover - transformers is an ml dependency
            raise EncoderError("encoder.kind=hf needs transformers") from exc
        try:
            self.model = AutoModel.from_pretrained(name_or_path, local_files_only=True)
        except OSError as exc:
            raise EncoderError(f"cannot load vision model '{name_or_path}' from a local folder") from exc
        hidden = getattr(self.model.config, "hidden_size", None) or self.model.config.hidden_sizes[-1]
        self.proj = nn.Conv2d(hidden, dim, 1)
        if freeze:
            self.model.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.expand(-1, 3, -1, -1) - 0.5) / 0.25
        out = self.model(pixel_values=x).last_hidden_state
        if out.dim() == 3:  # tokens (B, N, D): drop a class token, reshape to a square grid
            n = out.shape[1]
            side = int(n**0.5)
            if side * side != n:
                out = out[:, n - (int((n - 1) ** 0.5) ** 2) :]
                side = int(out.shape[1] ** 0.5)
            out = out.transpose(1, 2).reshape(out.shape[0], -1, side, side)
        return self.proj(out)


class TimmBackbone(nn.Module):
    """A timm model's last feature map (``features_only``), weights from a local checkpoint."""

    def __init__(self, name_or_path: str, dim: int, freeze: bool):
        super().__init__()
        try:
            import timm
        except ImportError as exc:
            raise EncoderError("encoder.kind=timm needs the 'timm' package (pip install timm)") from exc
        name, _, ckpt = name_or_path.partition(":")
        self.model = timm.create_model(name, pretrained=False, features_only=True, checkpoint_path=ckpt or "")
        hidden = self.model.feature_info.channels()[-1]
        self.proj = nn.Conv2d(hidden, dim, 1)
        if freeze:
            self.model.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.expand(-1, 3, -1, -1) - 0.5) / 0.25
        return self.proj(self.model(x)[-1])


class VisionEncoder(nn.Module):
    """Backbone + the pre-training heads (multi-label findings, per-finding localisation map)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.kind == "cnn":
            self.backbone: nn.Module = CompactCNN(tuple(cfg.channels), cfg.dim)
        elif cfg.kind == "hf":
            self.backbone = HFBackbone(cfg.name_or_path, cfg.dim, cfg.freeze)
        elif cfg.kind == "timm":
            self.backbone = TimmBackbone(cfg.name_or_path, cfg.dim, cfg.freeze)
        else:
            raise EncoderError(f"unknown encoder kind '{cfg.kind}'")
        self.norm = nn.GroupNorm(1, cfg.dim)
        self.label_head = nn.Linear(cfg.dim, cfg.n_labels)
        self.loc_head = nn.Conv2d(cfg.dim, cfg.n_labels, 1)
        # How much each finding's label trusts its localisation map's peak cell (learnt; 0 at start).
        self.peak_gain = nn.Parameter(torch.zeros(cfg.n_labels))
        s = cfg.image_size
        # Identity-like until fitted: the mid-grey / quarter-range scaling the hf/timm paths use.
        self.register_buffer("pixel_mean", torch.full((1, 1, s, s), 0.5))
        self.register_buffer("pixel_std", torch.tensor(0.25))

    @torch.no_grad()
    def fit_input_norm(self, images: torch.Tensor, chunk: int = 256) -> None:
        """Set the CNN's input centring from training images (N, 1, S, S), uint8 or [0, 1] floats."""
        n = images.shape[0]
        if n == 0:
            return
        scale = 255.0 if images.dtype == torch.uint8 else 1.0
        total = torch.zeros(1, 1, *images.shape[-2:], dtype=torch.float64)
        sq = torch.zeros((), dtype=torch.float64)
        for i in range(0, n, chunk):
            x = images[i : i + chunk].double() / scale
            total += x.sum(0, keepdim=True)
        mean = total / n
        for i in range(0, n, chunk):
            x = images[i : i + chunk].double() / scale
            sq += ((x - mean) ** 2).sum()
        std = (sq / (n * mean.numel())).sqrt().clamp_min(1e-3)
        mean = F.interpolate(
            mean.float(), size=self.pixel_mean.shape[-2:], mode="bilinear", align_corners=False
        )
        self.pixel_mean.copy_(mean)
        self.pixel_std.copy_(std.float())

    @torch.no_grad()
    def grid_size(self) -> int:
        """Side of the patch grid for the configured image size (probed with one zero image)."""
        s = self.cfg.image_size
        return int(self.features(torch.zeros(1, 1, s, s, device=self.pixel_std.device)).shape[-1])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if self.cfg.kind == "cnn":
            mean = self.pixel_mean
            if mean.shape[-2:] != images.shape[-2:]:
                mean = F.interpolate(mean, size=images.shape[-2:], mode="bilinear", align_corners=False)
            images = (images - mean) / self.pixel_std
        return self.norm(self.backbone(images))

    def heads(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Label logits (B, n_labels) and localisation logits (B, n_labels, h, w) of a feature map.

        A label sees the mean-pooled features plus its map's peak cell: a 2 cm nodule fills one
        cell of 196, and averaging alone dilutes it to noise (its map's peak separated large
        nodules far better than the mean-pooled label did).
        """
        loc = self.loc_head(feats)
        peak = loc.flatten(2).amax(dim=2)
        return self.label_head(feats.mean(dim=(2, 3))) + self.peak_gain * peak, loc

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        feats = self.features(images)
        return EncoderOutput(feats, *self.heads(feats))

    def loss(
        self,
        out: EncoderOutput,
        labels: torch.Tensor,
        label_mask: torch.Tensor,
        loc: torch.Tensor,
        pos_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Multi-label BCE (masked where a label is unknown; ``pos_weight`` balances rare findings)
        + localisation BCE against finding masks, balanced per finding.

        Each finding's map is weighted so its positive cells count as much as its negatives (up to
        50:1) and the findings are averaged: one balance over all maps let large effusions and
        hearts drown the one or two cells of a nodule."""
        cls = F.binary_cross_entropy_with_logits(
            out.label_logits, labels, reduction="none", pos_weight=pos_weight
        )
        cls = (cls * label_mask).sum() / label_mask.sum().clamp_min(1.0)
        if loc.shape[-2:] != out.loc_logits.shape[-2:]:
            loc = F.adaptive_avg_pool2d(loc, out.loc_logits.shape[-2:])
        pos = loc.mean(dim=(0, 2, 3), keepdim=True).clamp(1e-3, 0.5)
        weight = 1.0 + loc * ((1 - pos) / pos).clamp(max=50.0)
        cells = F.binary_cross_entropy_with_logits(out.loc_logits, loc, reduction="none") * weight
        loc_loss = (cells.sum(dim=(0, 2, 3)) / weight.sum(dim=(0, 2, 3))).mean()
        total = cls + self.cfg.loc_weight * loc_loss
        return {"loss": total, "cls": cls.detach(), "loc": loc_loss.detach()}


def grid_centres(h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
    """Normalised (x, y) centres of an h x w patch grid, shape (h*w, 2), row-major."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
