import torch

from ml.models.config import GraphConfig
from ml.models.graph import EDGE_DIM, build_graph, fixation_table, fovea_radius_px, pool_foveal


def _edges(g, kind):
    return {tuple(e) for e, t in zip(g.edge_index.T.tolist(), g.edge_types, strict=True) if t == kind}


def _flags(g):
    return {tuple(e): a[2:].tolist() for e, a in zip(g.edge_index.T.tolist(), g.edge_attr, strict=True)}


def test_temporal_edges_link_successive_fixations_both_ways():
    fix = fixation_table(torch.tensor([[0.1, 0.1, 0.2], [0.9, 0.9, 0.3], [0.1, 0.9, 0.2], [0.9, 0.1, 0.2]]))
    cfg = GraphConfig(spatial=False, overlap=False)
    g = build_graph(torch.zeros(4, 8, 8), fix, (100, 100), cfg)
    assert _edges(g, "temporal") == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}
    assert g.edge_attr.shape == (6, EDGE_DIM)
    # time gap (start of target - end of source) is 0 forward for back-to-back fixations, negative backward
    attrs = {tuple(e): a for e, a in zip(g.edge_index.T.tolist(), g.edge_attr, strict=True)}
    assert abs(float(attrs[(0, 1)][1])) < 1e-6
    assert float(attrs[(1, 0)][1]) < 0


def test_knn_edges_match_brute_force():
    torch.manual_seed(0)
    xy = torch.rand(10, 2)
    fix = fixation_table(torch.cat([xy, torch.full((10, 1), 0.2)], dim=1))
    k = 3
    g = build_graph(
        torch.zeros(2, 4, 4), fix, (200, 200), GraphConfig(knn_k=k, temporal=False, overlap=False)
    )
    expected = set()
    for i in range(10):
        d = ((xy - xy[i]) ** 2).sum(-1)
        d[i] = float("inf")
        for j in d.argsort()[:k].tolist():
            expected.add((j, i))
    assert set(_flags(g)) == expected
    assert all(f[1] == 1.0 for f in _flags(g).values())


def test_overlap_edges_follow_the_foveal_radius():
    # 100 px wide image, 10 px per degree, 1 degree: windows of radius 10 px overlap below 20 px apart
    fix = fixation_table(torch.tensor([[0.10, 0.5, 0.2], [0.25, 0.5, 0.2], [0.80, 0.5, 0.2]]))
    cfg = GraphConfig(px_per_deg=10.0, temporal=False, spatial=False)
    assert fovea_radius_px(cfg, (100, 100)) == 10.0
    g = build_graph(torch.zeros(1, 4, 4), fix, (100, 100), cfg)
    assert set(_flags(g)) == {(0, 1), (1, 0)}
    # with a 4 degree fovea all three windows touch
    g2 = build_graph(
        torch.zeros(1, 4, 4),
        fix,
        (100, 100),
        GraphConfig(px_per_deg=10.0, fovea_deg=4.0, temporal=False, spatial=False),
    )
    assert len(_flags(g2)) == 6


def test_no_edges_mode_and_node_features():
    fix = fixation_table(torch.tensor([[0.1, 0.2, 0.3], [0.7, 0.6, 0.4]]))
    g = build_graph(torch.randn(5, 4, 4), fix, (64, 32), GraphConfig(), edges=False)
    assert g.edge_index.shape == (2, 0) and g.edge_attr.shape == (0, EDGE_DIM)
    assert g.x.shape == (2, 5 + 4)
    torch.testing.assert_close(g.x[:, 5:7], torch.tensor([[0.1, 0.2], [0.7, 0.6]]))
    torch.testing.assert_close(g.x[:, 7], torch.tensor([0.3, 0.4]))  # duration
    torch.testing.assert_close(g.x[:, 8], torch.tensor([0.0, 1.0]))  # order


def test_foveal_pooling_reads_the_fixated_patch():
    feats = torch.zeros(1, 8, 8)
    feats[0, 6, 1] = 1.0  # row 6, column 1 → centre (1.5/8, 6.5/8)
    near = pool_foveal(feats, torch.tensor([[1.5 / 8, 6.5 / 8]]), (0.01, 0.01))
    far = pool_foveal(feats, torch.tensor([[0.9, 0.1]]), (0.01, 0.01))
    assert float(near) > 0.5 and float(far) < 1e-3  # sigma is at least half a patch


def test_long_scanpaths_keep_the_longest_dwells_in_order():
    from ml.models.graph import reduce_fixations

    durs = torch.tensor([0.1, 0.9, 0.2, 0.8, 0.05, 0.7])
    xyd = torch.stack([torch.linspace(0, 1, 6), torch.zeros(6), durs], dim=1)
    table = fixation_table(xyd)
    kept_t, kept = reduce_fixations(table, 3, "longest")
    assert kept.tolist() == [1, 3, 5]
    assert reduce_fixations(table, 3, "first")[1].tolist() == [0, 1, 2]
    g = build_graph(torch.zeros(2, 4, 4), table, (10, 10), GraphConfig(max_nodes=3))
    assert g.kept.tolist() == [1, 3, 5] and g.x.shape[0] == 3
