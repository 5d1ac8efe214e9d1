"""GATv2 over gaze graphs (torch_geometric): node embeddings, node attention and edge attention.

The node attention is an attention-pooling readout (a softmax over each graph's nodes, so it
sums to 1 per scanpath); the pooled vector becomes an extra "graph summary" token, so the
weights are trained by the report loss and say which fixations the report leaned on. The edge
attention is the last GATv2 layer's attention averaged over heads. Both go to the GUI overlay.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATv2Conv
from torch_geometric.utils import softmax

from ml.models.config import GNNConfig
from ml.models.graph import EDGE_DIM, NODE_EXTRA, GazeGraphData


@dataclass
class GNNOutput:
    nodes: torch.Tensor  # (sum N, hidden) node embeddings
    batch: torch.Tensor  # (sum N,) graph index of each node
    node_attention: torch.Tensor  # (sum N,) softmax per graph
    pooled: torch.Tensor  # (B, hidden) attention-weighted graph summary
    edge_index: torch.Tensor  # (2, sum E) the input edges (batched indices)
    edge_attention: torch.Tensor  # (sum E,) last layer, mean over heads


def to_batch(graphs: list[GazeGraphData]) -> Batch:
    return Batch.from_data_list(
        [Data(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr, num_nodes=g.x.shape[0]) for g in graphs]
    )


class GazeGNN(nn.Module):
    def __init__(self, cfg: GNNConfig, feature_dim: int):
        super().__init__()
        self.cfg = cfg
        hid = cfg.hidden
        if hid % cfg.heads:
            raise ValueError(f"gnn.hidden ({hid}) must be divisible by gnn.heads ({cfg.heads})")
        self.inp = nn.Sequential(nn.Linear(feature_dim + NODE_EXTRA, hid), nn.GELU(), nn.Linear(hid, hid))
        self.convs = nn.ModuleList(
            GATv2Conv(hid, hid // cfg.heads, heads=cfg.heads, edge_dim=EDGE_DIM, dropout=cfg.dropout)
            for _ in range(cfg.layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hid) for _ in range(cfg.layers))
        self.gate = nn.Linear(hid, 1)

    def forward(self, batch: Batch) -> GNNOutput:
        h = self.inp(batch.x)
        edge_index, edge_attr = batch.edge_index, batch.edge_attr
        n_edges = edge_index.shape[1]
        alpha = h.new_zeros(n_edges)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            out, (ei, a) = conv(h, edge_index, edge_attr, return_attention_weights=True)
            h = norm(h + torch.nn.functional.gelu(out))
            # GATv2 drops then appends self loops: our edges (no self loops) come first, in order.
            alpha = a[:n_edges].mean(-1) if n_edges else alpha
            assert n_edges == 0 or torch.equal(ei[:, :n_edges], edge_index)
        att = softmax(self.gate(h).squeeze(-1), batch.batch)
        pooled = torch.zeros(int(batch.num_graphs), h.shape[-1], device=h.device, dtype=h.dtype)
        pooled = pooled.index_add(0, batch.batch, h * att[:, None])
        return GNNOutput(h, batch.batch, att, pooled, edge_index, alpha)
