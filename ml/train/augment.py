"""Training-time augmentation: the variation a film gets that the training set did not show.

Real films differ from the cohort's in exposure processing (gamma, contrast, brightness), noise and
sharpness, and in how the patient stands (a few degrees of rotation, distance, position). The
encoder should not learn any of these, so each batch gets them drawn at random, as small
composable transforms (MONAI's pattern: ``Compose`` of ``Rand*`` transforms, each with its own
probability) over a :class:`Batch`. Geometric transforms move the localisation maps and any
normalised points (fixations, box corners) with the image, so the targets stay on the findings.

Photometric ranges stay mild on purpose: a finding *is* a local change of density, and gamma/gain
jitter as large as the exposures differ hid findings from the encoder in an earlier experiment
(``ml.train.stages`` kept translation alone for that reason). Everything draws from the generator
it is given, so a run's seed fixes every augmented batch. Configured by ``train.augment``
(:class:`ml.models.config.AugmentConfig`); ``{"enabled": false}`` turns it off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ml.models.config import AugmentConfig


@dataclass
class Batch:
    """Images (B, 1, H, W) in 0..1, optional maps (B, C, h, w) and points (B, K, 2) as x, y in 0..1."""

    images: torch.Tensor
    maps: torch.Tensor | None = None
    points: torch.Tensor | None = None


def _chosen(n: int, p: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < p


def _uniform(n: int, half: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * 2 - 1) * half


class RandAffine:
    """Rotation (± ``rotate_deg``), isotropic scale (1 ± ``scale``), translation (± ``translate`` of
    the side), applied to images, maps and points alike."""

    def __init__(self, p: float, rotate_deg: float, scale: float, translate: float) -> None:
        self.p, self.rotate_deg, self.scale, self.translate = p, rotate_deg, scale, translate

    def theta(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n, 2, 3): output → input in ``affine_grid``'s [-1, 1] coordinates (identity when not chosen)."""
        on = _chosen(n, self.p, gen).float()
        a = _uniform(n, math.radians(self.rotate_deg), gen) * on
        s = 1 + _uniform(n, self.scale, gen) * on
        t = _uniform(2 * n, 2 * self.translate, gen).reshape(n, 2) * on[:, None]
        c, si = torch.cos(a) / s, torch.sin(a) / s
        return torch.stack([torch.stack([c, -si, t[:, 0]], 1), torch.stack([si, c, t[:, 1]], 1)], 1)

    def __call__(self, b: Batch, gen: torch.Generator) -> Batch:
        theta = self.theta(b.images.shape[0], gen)
        return apply_affine(b, theta)


def apply_affine(b: Batch, theta: torch.Tensor) -> Batch:
    """``b`` warped by ``theta`` (see :meth:`RandAffine.theta`)."""

    def warp(x: torch.Tensor, padding: str) -> torch.Tensor:
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)

    maps = warp(b.maps, "zeros") if b.maps is not None else None
    points = None
    if b.points is not None:  # input → output: invert the 2x2 part
        p = b.points * 2 - 1
        inv = torch.linalg.inv(theta[:, :, :2].to(p))
        points = ((p - theta[:, None, :, 2].to(p)) @ inv.transpose(1, 2) + 1) / 2
    return Batch(warp(b.images, "border"), maps, points)


def transform_boxes(boxes: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Boxes (B, K, 4) as normalised x0, y0, x1, y1 → the boxes around their warped corners."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    corners = torch.stack([torch.stack(c, -1) for c in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], 2)
    B, K = boxes.shape[:2]
    moved = apply_affine(Batch(torch.zeros(B, 1, 2, 2), points=corners.reshape(B, K * 4, 2)), theta).points
    moved = moved.reshape(B, K, 4, 2)
    return torch.cat([moved.amin(2), moved.amax(2)], -1)


class RandGamma:
    """``x ** g`` with log g uniform in ± ``log_range``."""

    def __init__(self, p: float, log_range: float) -> None:
        self.p, self.log_range = p, log_range

    def __call__(self, b: Batch, gen: torch.Generator) -> Batch:
        n = b.images.shape[0]
        g = torch.exp(_uniform(n, self.log_range, gen) * _chosen(n, self.p, gen).float())
        return replace(b, images=b.images.clamp(0, 1) ** g[:, None, None, None])


class RandContrast:
    """Contrast about the image mean (× 1 ± ``contrast``) and brightness (± ``brightness``)."""

    def __init__(self, p: float, contrast: float, brightness: float) -> None:
        self.p, self.contrast, self.brightness = p, contrast, brightness

    def __call__(self, b: Batch, gen: torch.Generator) -> Batch:
        n = b.images.shape[0]
        on = _chosen(n, self.p, gen).float()[:, None, None, None]
        c = 1 + _uniform(n, self.contrast, gen)[:, None, None, None] * on
        d = _uniform(n, self.brightness, gen)[:, None, None, None] * on
        mean = b.images.mean(dim=(1, 2, 3), keepdim=True)
        return replace(b, images=(b.images - mean) * c + mean + d)


class RandNoise:
    """Gaussian noise, standard deviation uniform in 0 .. ``sigma``."""

    def __init__(self, p: float, sigma: float) -> None:
        self.p, self.sigma = p, sigma

    def __call__(self, b: Batch, gen: torch.Generator) -> Batch:
        n = b.images.shape[0]
        sd = torch.rand(n, generator=gen) * self.sigma * _chosen(n, self.p, gen).float()
        noise = torch.randn(b.images.shape, generator=gen) * sd[:, None, None, None]
        return replace(b, images=b.images + noise.to(b.images))


class RandBlurSharpen:
    """Half the chosen images blurred (Gaussian, sigma up to ``sigma`` px), half unsharp-masked."""

    def __init__(self, p: float, sigma: float) -> None:
        self.p, self.sigma = p, sigma

    def __call__(self, b: Batch, gen: torch.Generator) -> Batch:
        n = b.images.shape[0]
        on = _chosen(n, self.p, gen)
        sharpen = torch.rand(n, generator=gen) < 0.5
        amount = torch.rand(n, generator=gen)
        if not on.any() or self.sigma <= 0:
            return b
        r = max(1, math.ceil(2 * self.sigma))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / self.sigma) ** 2)
        k = (k / k.sum()).to(b.images)
        x = b.images
        blur = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        blur = F.conv2d(F.pad(blur, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
        w = (amount * on.float())[:, None, None, None].to(x)
        s = sharpen[:, None, None, None].to(x)
        out = x + w * ((1 - s) * (blur - x) + s * (x - blur))
        return replace(b, images=out)


class Compose:
    """Transforms in order; images clamped to 0..1 at the end."""

    def __init__(self, transforms: list) -> None:
        self.transforms = transforms

    def __call__(self, b: Batch, gen: torch.Generator) -> Batch:
        for t in self.transforms:
            b = t(b, gen)
        return replace(b, images=b.images.clamp(0.0, 1.0))


def build_augment(cfg: AugmentConfig) -> Compose | None:
    """The configured pipeline, or None when augmentation is off."""
    if not cfg.enabled:
        return None
    return Compose(
        [
            RandAffine(cfg.p_geometric, cfg.rotate_deg, cfg.scale, cfg.translate),
            RandGamma(cfg.p_gamma, cfg.gamma),
            RandContrast(cfg.p_contrast, cfg.contrast, cfg.brightness),
            RandBlurSharpen(cfg.p_blur, cfg.blur_sigma),
            RandNoise(cfg.p_noise, cfg.noise),
        ]
    )
