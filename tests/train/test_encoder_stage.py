"""The encoder stage learns a faint density change on near-identical images (the cohort's case).

Every cohort radiograph is the same patient; a finding is a small local change of density on top
of shared anatomy. An encoder that normalised each image on its own (GroupNorm on raw pixels)
learnt only the prior here; these tests keep that from coming back.
"""

import torch
from torch import nn

from ml.models.config import EncoderConfig, ModelConfig
from ml.models.encoder import EncoderOutput, VisionEncoder
from ml.train.data import Prepared
from ml.train.loop import trainable_state
from ml.train.run import _warn_if_collapsed
from ml.train.stages import encoder_check, encoder_stage, roc_auc
from ml.types import CHEXPERT_OBSERVATIONS

EFFUSION = CHEXPERT_OBSERVATIONS.index("Pleural Effusion")


class _Holder(nn.Module):
    """The part of ``Gaze2Report`` the encoder stage touches."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = VisionEncoder(cfg.encoder)


def _same_patient(n: int, size: int = 48, seed: int = 0) -> Prepared:
    """Shared 'anatomy' (ribs and a mediastinum), jittered in position and exposure; the odd
    studies carry a faint basal opacity (+0.08) on the left — smaller than the exposure jitter."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    anatomy = 0.35 + 0.25 * torch.sin(yy * 40).abs() * (xx - 0.5).abs() + 0.3 * ((xx - 0.5).abs() < 0.1)
    labels = torch.zeros(n, len(CHEXPERT_OBSERVATIONS))
    images = []
    for i in range(n):
        dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
        img = torch.roll(anatomy, (dy, dx), (0, 1)) * (1 + 0.1 * torch.randn(1, generator=g))
        img = img + 0.03 * torch.randn(size, size, generator=g)
        if i % 2:
            img = img + 0.08 * ((yy > 0.65) & (xx < 0.45))
            labels[i, EFFUSION] = 1
        images.append((img.clamp(0, 1) * 255).round().to(torch.uint8))
    loc = torch.zeros(n, len(CHEXPERT_OBSERVATIONS), 3, 3)
    loc[1::2, EFFUSION, 2, 0] = 1
    splits = ["train"] * (n - 16) + ["val"] * 16
    return Prepared(
        [f"s{i}" for i in range(n)],
        torch.stack(images)[:, None],
        [(size, size)] * n,
        labels,
        torch.ones_like(labels),
        loc,
        [[] for _ in range(n)],
        [""] * n,
        [None] * n,
        splits,
    )


def test_roc_auc_ranks_and_ties():
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert roc_auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), y) == 1.0
    assert roc_auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), y) == 0.0
    assert roc_auc(torch.full((4,), 0.3), y) == 0.5
    assert roc_auc(torch.tensor([0.1, 0.9]), torch.tensor([1.0, 1.0])) is None


def test_fit_input_norm_centres_on_the_training_mean_image():
    data = _same_patient(24)
    enc = VisionEncoder(EncoderConfig(image_size=48, channels=(8, 16), dim=16))
    enc.fit_input_norm(data.images)
    x = data.images.float() / 255
    assert torch.allclose(enc.pixel_mean, x.mean(0, keepdim=True), atol=1e-5)
    assert torch.isclose(enc.pixel_std, (x - x.mean(0)).pow(2).mean().sqrt(), atol=1e-5)
    # Buffers, so a saved bundle carries them and inference centres the same way.
    assert {"pixel_mean", "pixel_std"} <= set(enc.state_dict())


def test_encoder_learns_a_faint_finding_on_shared_anatomy():
    torch.manual_seed(0)
    data = _same_patient(96)
    cfg = ModelConfig(encoder=EncoderConfig(image_size=48, channels=(8, 16, 32), dim=32))
    net = _Holder(cfg)
    train = [i for i, s in enumerate(data.splits) if s == "train"]
    val = [i for i, s in enumerate(data.splits) if s == "val"]
    stage = encoder_stage(net, data, train, val, torch.device("cpu"), seed=0)
    opt = torch.optim.AdamW(stage.params, lr=3e-3)
    g = torch.Generator().manual_seed(0)
    stage.module.train()
    for step in range(120):
        loss = stage.train_step(stage.module, torch.randint(stage.n_train, (16,), generator=g), step)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    check = encoder_check(net.encoder, data, val, torch.device("cpu"))
    assert check["auc"]["Pleural Effusion"] > 0.9, check
    assert not _warn_if_collapsed(check)
    # Not just ranked: the probabilities separate (the collapsed encoder gave 0.50 ± 0.001).
    net.eval()
    with torch.no_grad():
        p = torch.sigmoid(net.encoder(data.float_images(val)).label_logits[:, EFFUSION])
    y = data.labels[val, EFFUSION] > 0
    assert p[y].mean() - p[~y].mean() > 0.3, p
    # At the prompt's threshold: the share of effusions it would name, and of normals.
    assert check["sensitivity"]["Pleural Effusion"] == round(float((p[y] >= 0.5).float().mean()), 4)
    assert check["false_positive_rate"]["Pleural Effusion"] == round(float((p[~y] >= 0.5).float().mean()), 4)


def test_a_constant_encoder_is_reported_as_collapsed():
    data = _same_patient(32)
    net = _Holder(ModelConfig(encoder=EncoderConfig(image_size=48, channels=(8, 16), dim=16)))
    nn.init.zeros_(net.encoder.label_head.weight)  # same probabilities for every image ...
    nn.init.zeros_(net.encoder.label_head.bias)  # ... all 0.5
    check = encoder_check(net.encoder, data, list(range(32)), torch.device("cpu"))
    assert check["prob_std"] < 1e-6
    # p = 0.5 everywhere sits on the prompt's threshold: every image would name every finding.
    assert set(check["sensitivity"].values()) == {1.0} and set(check["false_positive_rate"].values()) == {1.0}
    assert _warn_if_collapsed(check)


def test_checkpoints_keep_batchnorm_statistics_and_input_centring():
    """A resumed run must not restart the encoder with empty BatchNorm statistics."""
    net = _Holder(ModelConfig(encoder=EncoderConfig(image_size=48, channels=(8, 16), dim=16)))
    net.encoder.fit_input_norm(_same_patient(24).images)
    net.encoder.train()(torch.rand(4, 1, 48, 48))  # moves the running statistics
    net.requires_grad_(False)
    state = trainable_state(net)
    bn = [k for k in state if k.endswith("running_mean")]
    assert bn and not torch.allclose(state[bn[0]], torch.zeros_like(state[bn[0]]))
    assert torch.equal(state["encoder.pixel_mean"], net.encoder.pixel_mean)
    fresh = _Holder(ModelConfig(encoder=EncoderConfig(image_size=48, channels=(8, 16), dim=16)))
    fresh.load_state_dict(state, strict=False)
    assert torch.equal(fresh.state_dict()[bn[0]], state[bn[0]])


def test_localisation_loss_weighs_a_one_cell_nodule_like_a_large_effusion():
    enc = VisionEncoder(EncoderConfig(n_labels=2, loc_weight=1.0))
    loc = torch.zeros(4, 2, 8, 8)
    loc[:, 0, 4:, :4] = 1.0  # a large effusion: a quarter of the map
    loc[:, 1, 2, 5] = 1.0  # a nodule: one cell
    labels, mask = torch.ones(4, 2), torch.ones(4, 2)
    sure = torch.where(loc > 0, 8.0, -8.0)  # confident and right everywhere

    def loc_loss(logits):
        out = EncoderOutput(torch.zeros(4, 8, 8, 8), torch.full((4, 2), 8.0), logits)
        return float(enc.loss(out, labels, mask, loc)["loc"])

    miss_nodule, miss_effusion = sure.clone(), sure.clone()
    miss_nodule[:, 1][loc[:, 1] > 0] = -8.0
    miss_effusion[:, 0][loc[:, 0] > 0] = -8.0
    assert loc_loss(sure) < 0.01
    # Missing the nodule's one cell costs as much as missing the whole effusion.
    assert 0.5 < loc_loss(miss_nodule) / loc_loss(miss_effusion) < 2.0


def test_a_label_adds_its_maps_peak_cell_so_one_bright_cell_is_not_averaged_away():
    enc = VisionEncoder(EncoderConfig(image_size=48, channels=(8, 16), dim=4))
    feats = torch.zeros(2, 4, 6, 6)
    feats[1, 0, 2, 3] = 3.0  # one cell of 36 stands out in channel 0
    with torch.no_grad():
        enc.loc_head.weight.zero_()
        enc.loc_head.bias.zero_()
        enc.loc_head.weight[EFFUSION, 0] = 1.0  # the effusion map reads channel 0
        enc.label_head.weight.zero_()
        enc.label_head.bias.zero_()
        enc.label_head.weight[EFFUSION, 0] = 1.0  # ... and so does the mean-pooled label
        enc.peak_gain.fill_(2.0)
    label, loc = enc.heads(feats)
    assert loc[1, EFFUSION, 2, 3] == 3.0 and loc[0, EFFUSION].abs().max() == 0
    # mean pooling alone: 3 / 36; the peak adds gain x 3
    assert torch.allclose(label[1, EFFUSION], torch.tensor(3.0 / 36 + 2.0 * 3.0))
    assert label[0, EFFUSION] == 0
    out = enc(torch.rand(1, 1, 48, 48))
    assert torch.equal(out.label_logits, enc.heads(out.features)[0])
