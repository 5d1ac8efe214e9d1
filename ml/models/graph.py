"""Scanpath → gaze graph (after GazeGNN and the REFLACX graph work), in plain torch.

One node per fixation. Node features: the visual features pooled over the foveal window (about
±1° of visual angle, converted to image pixels from the display geometry) + normalised position
+ duration + order. Edges (directed, both ways): temporal succession, spatial proximity (the k
nearest fixations, computed with ``torch.cdist`` — PyG's ``knn_graph`` needs pyg-lib, which does
not install everywhere) and overlap of the viewed regions (foveal windows that intersect). Edge
attributes: distance, signed time gap and the three edge-type flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ml.models.config import GraphConfig
from ml.models.encoder import grid_centres

EDGE_TYPES: tuple[str, ...] = ("temporal", "spatial", "overlap")
NODE_EXTRA = 4  # x, y, duration, order
EDGE_DIM = 2 + len(EDGE_TYPES)  # distance, time gap, type flags


@dataclass
class GazeGraphData:
    """Tensors of one gaze graph (before batching into torch_geometric)."""

    x: torch.Tensor  # (N, C + 4) node features
    edge_index: torch.Tensor  # (2, E) long, source → target
    edge_attr: torch.Tensor  # (E, EDGE_DIM)
    edge_types: list[str]  # primary type per edge (temporal > spatial > overlap)
    pos: torch.Tensor  # (N, 2) normalised x, y
    kept: torch.Tensor  # (N,) indices of the input fixations that became nodes


def reduce_fixations(table: torch.Tensor, n: int, how: str = "longest") -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``n`` fixations of an (N, 4) table, in temporal order, and their indices.

    ``longest`` keeps the longest dwells (where readers look at findings); ``first`` the first n.
    """
    idx = torch.arange(table.shape[0], device=table.device)
    if table.shape[0] <= n:
        return table, idx
    keep = idx[:n] if how == "first" else (table[:, 3] - table[:, 2]).topk(n).indices.sort().values
    return table[keep], keep


def fovea_radius_px(cfg: GraphConfig, image_size: tuple[int, int], px_per_deg: float | None = None) -> float:
    """Foveal half-width in image pixels: fovea_deg x pixels-per-degree, else a fraction of the width."""
    ppd = px_per_deg or cfg.px_per_deg
    if ppd and ppd > 0:
        return float(cfg.fovea_deg * ppd)
    return float(cfg.fovea_frac * image_size[0])


def fixation_table(xyd: torch.Tensor, starts: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 3) normalised x, y, duration → (N, 4) x, y, start, end (laid end to end if no starts)."""
    d = xyd[:, 2].clamp_min(0.0)
    if starts is None:
        starts = torch.cumsum(d, 0) - d
    return torch.stack([xyd[:, 0], xyd[:, 1], starts, starts + d], dim=-1)


def pool_foveal(features: torch.Tensor, pos: torch.Tensor, radius: tuple[float, float]) -> torch.Tensor:
    """Gaussian-weighted mean of a (C, h, w) map around each normalised position (N, 2) → (N, C).

    ``radius`` is the foveal half-width as a fraction of (width, height); the Gaussian sigma is at
    least half a patch so a window smaller than a patch still reads its patch.
    """
    c, h, w = features.shape
    centres = grid_centres(h, w, features.device)  # (h*w, 2)
    sx = max(radius[0], 0.5 / w)
    sy = max(radius[1], 0.5 / h)
    dx = (pos[:, None, 0] - centres[None, :, 0]) / sx
    dy = (pos[:, None, 1] - centres[None, :, 1]) / sy
    wgt = torch.exp(-0.5 * (dx.pow(2) + dy.pow(2)))
    wgt = wgt / wgt.sum(-1, keepdim=True).clamp_min(1e-8)
    return wgt @ features.flatten(1).T


def build_graph(
    features: torch.Tensor,
    fixations: torch.Tensor,
    image_size: tuple[int, int],
    cfg: GraphConfig,
    px_per_deg: float | None = None,
    edges: bool = True,
) -> GazeGraphData:
    """Build the gaze graph of one scanpath.

    ``features`` (C, h, w): the encoder's patch map; ``fixations`` (N, 4): normalised x, y and
    start, end in seconds (see ``fixation_table``); ``image_size`` (width, height) in pixels.
    ``edges=False`` gives the nodes only (the "no GNN" ablation: fixation tokens without edges).
    """
    if fixations.dim() != 2 or fixations.shape[1] != 4:
        raise ValueError(f"fixations must be (N, 4) x, y, start, end; got {tuple(fixations.shape)}")
    fix, kept = reduce_fixations(fixations.to(features.device, torch.float32), cfg.max_nodes, cfg.reduce)
    n = fix.shape[0]
    if n == 0:
        raise ValueError("a gaze graph needs at least one fixation")
    width, height = image_size
    r_px = fovea_radius_px(cfg, image_size, px_per_deg)
    pos = fix[:, :2].clamp(0.0, 1.0)
    pooled = pool_foveal(features, pos, (r_px / width, r_px / height))
    dur = (fix[:, 3] - fix[:, 2]).clamp_min(0.0)
    order = torch.arange(n, device=fix.device, dtype=torch.float32) / max(n - 1, 1)
    x = torch.cat([pooled, pos, dur[:, None], order[:, None]], dim=-1)

    # Pairwise geometry in pixels scaled by the longer side, so distances are isotropic.
    scale = float(max(width, height))
    pix = pos * torch.tensor([width / scale, height / scale], device=fix.device)
    dist = torch.cdist(pix, pix)  # (N, N)
    gap = fix[None, :, 2] - fix[:, None, 3]  # start of target j - end of source i
    types = torch.zeros(n, n, len(EDGE_TYPES), dtype=torch.bool, device=fix.device)
    eye = torch.eye(n, dtype=torch.bool, device=fix.device)
    if edges and n > 1:
        if cfg.temporal:
            idx = torch.arange(n - 1, device=fix.device)
            types[idx, idx + 1, 0] = True
            types[idx + 1, idx, 0] = True
        if cfg.spatial and cfg.knn_k > 0:
            k = min(cfg.knn_k, n - 1)
            nearest = dist.masked_fill(eye, float("inf")).topk(k, dim=1, largest=False).indices  # (N, k)
            tgt = torch.arange(n, device=fix.device)[:, None].expand(-1, k)
            types[nearest.reshape(-1), tgt.reshape(-1), 1] = True  # neighbour → node
        if cfg.overlap:
            types[..., 2] = (dist < 2 * r_px / scale) & ~eye
    src, dst = types.any(-1).nonzero(as_tuple=True)
    t = types[src, dst]
    edge_attr = torch.cat([dist[src, dst, None], gap[src, dst, None].clamp(-5.0, 5.0), t.float()], dim=-1)
    primary = t.float().argmax(-1).tolist()
    return GazeGraphData(
        x=x,
        edge_index=torch.stack([src, dst]).long(),
        edge_attr=edge_attr,
        edge_types=[EDGE_TYPES[i] for i in primary],
        pos=pos,
        kept=kept,
    )
