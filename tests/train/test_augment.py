from __future__ import annotations

import math

import pytest
import torch

from ml.models.config import AugmentConfig, ConfigError, load_config
from ml.train.augment import Batch, RandAffine, apply_affine, build_augment, transform_boxes


def _square_batch(n: int = 4, size: int = 64, grid: int = 16) -> tuple[Batch, torch.Tensor]:
    """Bright squares at different places, their localisation maps and their boxes (normalised)."""
    images = torch.full((n, 1, size, size), 0.2)
    maps = torch.zeros(n, 2, grid, grid)
    boxes = torch.zeros(n, 1, 4)
    for i in range(n):
        x0, y0 = 8 + 8 * i, 12 + 4 * i
        images[i, 0, y0 : y0 + 16, x0 : x0 + 16] = 0.9
        maps[i, 1, y0 // 4 : (y0 + 16) // 4, x0 // 4 : (x0 + 16) // 4] = 1.0
        boxes[i, 0] = torch.tensor([x0, y0, x0 + 16, y0 + 16]) / size
    return Batch(images, maps), boxes


def _centre(m: torch.Tensor) -> torch.Tensor:
    """Centre of mass (x, y) of a 2-D map, normalised to 0..1 (pixel centres)."""
    h, w = m.shape
    ys, xs = (torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w
    total = m.sum()
    return torch.stack([(m.sum(0) * xs).sum() / total, (m.sum(1) * ys).sum() / total])


def test_augmentation_is_off_when_disabled_and_seeded_when_on():
    assert build_augment(AugmentConfig(enabled=False)) is None
    batch, _ = _square_batch()
    aug = build_augment(AugmentConfig(p_geometric=1.0, p_gamma=1.0, p_noise=1.0))
    a = aug(batch, torch.Generator().manual_seed(3))
    b = aug(batch, torch.Generator().manual_seed(3))
    c = aug(batch, torch.Generator().manual_seed(4))
    assert torch.equal(a.images, b.images) and torch.equal(a.maps, b.maps)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.images, batch.images)
    assert float(a.images.min()) >= 0.0 and float(a.images.max()) <= 1.0


def test_maps_points_and_boxes_move_with_the_image_under_a_geometric_transform():
    batch, boxes = _square_batch()
    corners = torch.cat([boxes[:, :, :2], boxes[:, :, 2:]], 1)  # (n, 2, 2): top-left, bottom-right
    batch.points = corners
    aff = RandAffine(1.0, rotate_deg=0.0, scale=0.15, translate=0.1)
    theta = aff.theta(4, torch.Generator().manual_seed(0))
    out = apply_affine(batch, theta)
    moved = transform_boxes(boxes, theta)
    for i in range(4):
        square = (out.images[i, 0] > 0.55).float()
        assert torch.allclose(_centre(square), _centre(out.maps[i, 1]), atol=0.04)
        ys, xs = torch.nonzero(square, as_tuple=True)
        seen = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) / 64
        assert torch.allclose(moved[i, 0], seen, atol=2.5 / 64), (moved[i, 0], seen)
        assert torch.allclose(out.points[i].reshape(-1), moved[i, 0], atol=1e-5)


def test_a_rotation_turns_a_point_about_the_centre():
    theta = torch.tensor([[[math.cos(0.3), -math.sin(0.3), 0.0], [math.sin(0.3), math.cos(0.3), 0.0]]])
    pt = torch.tensor([[[0.75, 0.5]]])  # right of the centre
    out = apply_affine(Batch(torch.zeros(1, 1, 8, 8), points=pt), theta).points[0, 0]
    assert torch.allclose(torch.linalg.norm(out - 0.5), torch.tensor(0.25), atol=1e-5)
    assert abs(float(out[1]) - 0.5) > 0.05


def test_the_train_config_reads_augment_and_refuses_a_probability_above_one(tmp_path):
    assert load_config().train.augment.enabled
    cfg = load_config(overrides={"train": {"augment": {"enabled": False}}})
    assert not cfg.train.augment.enabled
    with pytest.raises(ConfigError, match="p_noise"):
        load_config(overrides={"train": {"augment": {"p_noise": 1.5}}})
