import torch

from ml.models.config import GNNConfig, GraphConfig, ScanpathConfig
from ml.models.gnn import GazeGNN, to_batch
from ml.models.graph import build_graph, fixation_table
from ml.models.scanpath import ScanpathPredictor, scanpath_targets


def test_scanpath_shapes_and_samples_are_valid():
    torch.manual_seed(0)
    cfg = ScanpathConfig(max_len=6, d_model=32, n_heads=2, n_layers=1)
    pred = ScanpathPredictor(cfg, feature_dim=16).eval()
    out = pred(torch.randn(3, 16, 5, 5))
    assert out.valid_logits.shape == (3, 6) and out.mu.shape[:3] == (3, 6, 3)
    paths = pred.sample(out, n=4, seed=1)
    assert len(paths) == 3 and all(len(p) == 4 for p in paths)
    for per_image in paths:
        for p in per_image:
            assert 1 <= p.shape[0] <= 6 and p.shape[1] == 3
            assert (p[:, :2] >= 0).all() and (p[:, :2] <= 1).all() and (p[:, 2] > 0).all()
    again = pred.sample(out, n=4, seed=1)
    assert all(
        torch.equal(a, b) for x, y in zip(paths, again, strict=True) for a, b in zip(x, y, strict=True)
    )


def test_scanpath_nll_learns_a_fixed_scanpath():
    torch.manual_seed(0)
    cfg = ScanpathConfig(max_len=5, d_model=32, n_heads=2, n_layers=1, dropout=0.0)
    pred = ScanpathPredictor(cfg, feature_dim=8)
    feats = torch.randn(2, 8, 4, 4)
    path = torch.tensor([[0.2, 0.3, 0.25], [0.7, 0.3, 0.4], [0.5, 0.8, 0.3]])
    targets, lengths = scanpath_targets([path, path], cfg.max_len)
    assert lengths.tolist() == [3, 3]
    opt = torch.optim.Adam(pred.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = pred.loss(pred(feats), targets, lengths)["loss"]
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first - 3.0
    pred.eval()
    mode = pred.sample(pred(feats), n=1, seed=0)[0][0]
    assert mode.shape[0] == 3  # learned where the scanpath stops
    torch.testing.assert_close(mode[:, :2], path[:, :2], atol=0.08, rtol=0)


def test_gnn_attention_sums_to_one_per_graph_and_covers_every_edge():
    torch.manual_seed(0)
    gnn = GazeGNN(GNNConfig(hidden=16, heads=2, layers=2), feature_dim=6).eval()
    feats = torch.randn(6, 4, 4)
    g1 = build_graph(feats, fixation_table(torch.rand(5, 3)), (50, 50), GraphConfig())
    g2 = build_graph(feats, fixation_table(torch.rand(3, 3)), (50, 50), GraphConfig(), edges=False)
    out = gnn(to_batch([g1, g2]))
    assert out.nodes.shape == (8, 16) and out.pooled.shape == (2, 16)
    sums = torch.zeros(2).index_add(0, out.batch, out.node_attention)
    torch.testing.assert_close(sums, torch.ones(2))
    assert out.edge_attention.shape == (g1.edge_index.shape[1],)
    assert ((out.edge_attention > 0) & (out.edge_attention <= 1)).all()
    # message passing matters: the same fixations without edges embed differently
    tab = fixation_table(torch.rand(5, 3))
    with_e = gnn(to_batch([build_graph(feats, tab, (50, 50), GraphConfig())])).nodes
    without = gnn(to_batch([build_graph(feats, tab, (50, 50), GraphConfig(), edges=False)])).nodes
    assert not torch.allclose(with_e, without, atol=1e-4)
