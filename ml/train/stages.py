"""The three training stages: encoder pre-training → scanpath predictor → report model.

1. ``encoder``: multi-label findings + per-finding localisation maps (auxiliary task).
2. ``scanpath``: NLL of the readers' recorded scanpaths given the (frozen) encoder's patches.
3. ``report``: GNN, projector and the LLM's LoRA layers on report tokens; per sample the gaze
   comes from a real reader, from the (frozen, detached) predictor, or is left out, as
   ``TrainConfig.gaze_mix`` says, so the report model works with predicted gaze at inference and
   one model serves every ablation row.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from ml.models.config import AugmentConfig
from ml.models.gaze2report import LIKELY, Gaze2Report
from ml.models.graph import fixation_table, reduce_fixations
from ml.models.scanpath import scanpath_targets
from ml.train.augment import Batch, build_augment
from ml.train.data import Prepared
from ml.train.loop import Stage
from ml.types import CHEXPERT_OBSERVATIONS


def set_trainable(net: nn.Module, params: list[nn.Parameter]) -> None:
    net.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)


def lora_params(net: Gaze2Report) -> list[nn.Parameter]:
    return [p for n, p in net.llm.named_parameters() if "lora_" in n]


@torch.no_grad()
def encode_all(net: Gaze2Report, data: Prepared, device: torch.device, chunk: int = 32) -> torch.Tensor:
    """Frozen encoder features of every study, (N, C, h, w), computed once per stage."""
    was = net.encoder.training
    net.encoder.eval()
    out = [
        net.encoder.features(data.float_images(list(range(i, min(i + chunk, len(data))))).to(device))
        for i in range(0, len(data), chunk)
    ]
    net.encoder.train(was)
    return torch.cat(out) if out else torch.zeros(0)


class EncoderTask(nn.Module):
    def __init__(self, encoder: nn.Module, pos_weight: torch.Tensor | None = None):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, images, labels, label_mask, loc):  # noqa: ANN001
        out = self.encoder(images)
        losses = self.encoder.loss(out, labels, label_mask, loc, self.pos_weight)
        losses["_probs"] = torch.sigmoid(out.label_logits).detach()
        return losses


def encoder_stage(
    net: Gaze2Report, data: Prepared, train: list[int], val: list[int], device, seed: int, fit_norm: bool = True,
    augment: AugmentConfig | None = None,
) -> Stage:  # fmt: skip
    """``fit_norm``: centre the input on these training images (False: keep the encoder's, when
    continuing from a bundle whose weights were learnt on its centring). ``augment``: the training
    batches' augmentation (``ml.train.augment``; default ``AugmentConfig()``); the localisation maps
    move with the images. The scanpath stage trains on features encoded once, so it is not augmented."""  # fmt: skip
    pos_weight = None
    if net.cfg.encoder.balance and train:
        y, m = data.labels[train], data.label_mask[train]
        pos = (y * m).sum(0)
        pos_weight = ((m.sum(0) - pos) / pos.clamp_min(1.0)).clamp(1.0, 20.0)
    if fit_norm:
        net.encoder.fit_input_norm(data.images[train])
    task = EncoderTask(net.encoder, pos_weight)
    params = list(net.encoder.parameters())
    set_trainable(net, params)
    gen = torch.Generator().manual_seed(seed)
    transform = build_augment(augment or AugmentConfig())

    def batch(idx: list[int], aug: bool):
        b = Batch(data.float_images(idx), data.loc[idx])
        if aug and transform is not None:
            b = transform(b, gen)
        return dict(
            images=b.images.to(device),
            labels=data.labels[idx].to(device),
            label_mask=data.label_mask[idx].to(device),
            loc=b.maps.to(device),
        )

    def train_step(module, b, step):  # noqa: ANN001
        out = module(**batch([train[i] for i in b.tolist()], True))
        out.pop("_probs")
        return out

    def val_step(module, b):  # noqa: ANN001
        idx = [val[i] for i in b.tolist()]
        bt = batch(idx, False)
        out = module(**bt)
        pred = (out["_probs"] > 0.5).float()
        y, m = bt["labels"], bt["label_mask"]
        tp = (pred * y * m).sum()
        f1 = 2 * tp / ((pred * m).sum() + (y * m).sum()).clamp_min(1.0)
        return {"loss": float(out["loss"]), "loc": float(out["loc"]), "label_f1": float(f1)}

    return Stage("encoder", task, params, len(train), len(val), train_step, val_step)


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half); None without both classes."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    if len(pos) == 0 or len(neg) == 0:
        return None
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


@torch.no_grad()
def encoder_check(
    encoder: nn.Module,
    data: Prepared,
    rows: list[int],
    device,
    chunk: int = 32,
    calibration=None,  # noqa: ANN001
) -> dict[str, float | dict[str, float]]:
    """Per-finding ROC AUC of ``encoder`` on ``rows``, its support, and the spread of its probabilities.

    ``positives`` says how many images each AUC rests on: with a handful, one image moves it a lot.
    ``sensitivity`` and ``false_positive_rate`` are at ``LIKELY`` (the probability at which the
    prompt names a finding), so they say how often a draft can name it at all.
    A collapsed encoder (the same output for every image) has AUC 0.5 and a spread near 0;
    ``run`` warns then, because everything downstream (scanpaths, tokens, drafts) would only
    learn the prior.
    ``ece`` is each finding's expected calibration error of the raw probabilities, and
    ``ece_calibrated`` of the probabilities a ``calibration`` (``ml.models.calibration``) gives.
    """
    from ml.models.calibration import expected_calibration_error

    was = encoder.training
    encoder.eval()
    logits = (
        torch.cat(
            [
                encoder(data.float_images(rows[i : i + chunk]).to(device)).label_logits.cpu()
                for i in range(0, len(rows), chunk)
            ]
        )
        if rows
        else torch.zeros(0, data.labels.shape[1])
    )
    encoder.train(was)
    probs = torch.sigmoid(logits)
    calibrated = calibration.probabilities(logits) if calibration is not None else None
    y, m = data.labels[rows], data.label_mask[rows]
    names = CHEXPERT_OBSERVATIONS if y.shape[1] == len(CHEXPERT_OBSERVATIONS) else None
    per: dict[str, float] = {}
    positives: dict[str, int] = {}
    sens: dict[str, float] = {}
    fpr: dict[str, float] = {}
    ece: dict[str, float] = {}
    ece_cal: dict[str, float] = {}
    for j in range(y.shape[1]):
        keep = m[:, j] > 0
        a = roc_auc(probs[keep, j], y[keep, j])
        if a is not None:
            name = names[j] if names else str(j)
            pos, said = y[keep, j] > 0.5, probs[keep, j] >= LIKELY
            per[name] = round(a, 4)
            positives[name] = int(pos.sum())
            sens[name] = round(float(said[pos].float().mean()), 4)
            fpr[name] = round(float(said[~pos].float().mean()), 4)
            ece[name] = round(expected_calibration_error(probs[keep, j], y[keep, j]), 4)
            if calibrated is not None:
                ece_cal[name] = round(expected_calibration_error(calibrated[keep, j], y[keep, j]), 4)
    spread = float(probs.std(0).mean()) if len(rows) > 1 else 0.0
    mean_auc = sum(per.values()) / len(per) if per else float("nan")
    return {
        "auc_mean": round(mean_auc, 4),
        "prob_std": round(spread, 4),
        "auc": per,
        "images": len(rows),
        "positives": positives,
        "sensitivity": sens,
        "false_positive_rate": fpr,
        "ece": ece,
        **({"ece_calibrated": ece_cal} if calibrated is not None else {}),
    }


class ScanpathTask(nn.Module):
    def __init__(self, predictor: nn.Module):
        super().__init__()
        self.predictor = predictor

    def forward(self, features, targets, lengths):  # noqa: ANN001
        return self.predictor.loss(self.predictor(features), targets, lengths)


def scanpath_items(data: Prepared, rows: list[int]) -> list[tuple[int, int]]:
    return [(i, r) for i in rows for r in range(len(data.scanpaths[i]))]


def scanpath_stage(
    net: Gaze2Report, data: Prepared, train: list[int], val: list[int], device, seed: int
) -> Stage:
    feats = encode_all(net, data, device)
    items_t, items_v = scanpath_items(data, train), scanpath_items(data, val)
    task = ScanpathTask(net.scanpath)
    params = list(net.scanpath.parameters())
    set_trainable(net, params)
    L = net.cfg.scanpath.max_len

    def batch(items: list[tuple[int, int]]):
        paths = []
        for i, r in items:
            t, _ = reduce_fixations(data.scanpaths[i][r], L, net.cfg.graph.reduce)
            paths.append(torch.stack([t[:, 0], t[:, 1], t[:, 3] - t[:, 2]], dim=-1))
        targets, lengths = scanpath_targets(paths, L, device)
        return dict(features=feats[[i for i, _ in items]], targets=targets, lengths=lengths)

    def train_step(module, b, step):  # noqa: ANN001
        return module(**batch([items_t[i] for i in b.tolist()]))

    def val_step(module, b):  # noqa: ANN001
        out = module(**batch([items_v[i] for i in b.tolist()]))
        return {k: float(v) for k, v in out.items()}

    return Stage("scanpath", task, params, len(items_t), len(items_v), train_step, val_step)


def report_stage(
    net: Gaze2Report,
    data: Prepared,
    train: list[int],
    val: list[int],
    device,
    seed: int,
    gaze_mix: dict[str, float],
) -> Stage:
    feats = encode_all(net, data, device)
    params = list(net.gnn.parameters()) + list(net.projector.parameters()) + lora_params(net)
    set_trainable(net, params)
    report_ids = [net.report_ids(r) for r in data.reports]
    modes, weights = zip(*[(m, w) for m, w in gaze_mix.items() if w > 0], strict=True)

    def tables_for(rows: list[int], row_modes: list[str], rng: random.Random, step: int):
        """Per row: a real reader's scanpath, or one sampled from the frozen predictor (detached)."""
        want_pred = []
        tables: list[torch.Tensor | None] = []
        for i, m in zip(rows, row_modes, strict=True):
            real = data.scanpaths[i]
            use_real = m == "real_gaze" or (m == "no_gnn" and rng.random() < 0.5)
            if m == "image_only":
                tables.append(None)
            elif use_real and real:
                tables.append(real[rng.randrange(len(real))])
            else:
                tables.append(None)
                want_pred.append(len(tables) - 1)
        if want_pred:
            net.scanpath.eval()
            with torch.no_grad():
                sampled = net.predict_tables(
                    feats[[rows[j] for j in want_pred]], n=1, seed=seed * 100003 + step
                )
            for j, paths in zip(want_pred, sampled, strict=True):
                tables[j] = fixation_table(paths[0].to(device))
        return tables

    def forward(module, rows: list[int], row_modes: list[str], rng: random.Random, step: int):  # noqa: ANN001
        tables = tables_for(rows, row_modes, rng, step)
        return module(
            None,
            tables,
            [data.sizes[i] for i in rows],
            row_modes,
            [report_ids[i] for i in rows],
            [data.px_per_deg[i] for i in rows],
            features=feats[rows],
        )

    def train_step(module, b, step):  # noqa: ANN001
        rng = random.Random(seed * 7919 + step)
        rows = [train[i] for i in b.tolist()]
        row_modes = rng.choices(modes, weights=weights, k=len(rows))
        out = forward(module, rows, row_modes, rng, step)
        return {"loss": out["loss"]}

    def val_step(module, b):  # noqa: ANN001
        rows = [val[i] for i in b.tolist()]
        res = {}
        for m in ("predicted", "image_only", "real_gaze"):
            if m == "real_gaze" and not all(data.scanpaths[i] for i in rows):
                continue
            out = forward(module, rows, [m] * len(rows), random.Random(seed), 0)
            res["loss" if m == "predicted" else f"loss_{m}"] = float(out["loss"])
        return res

    return Stage("report", net, params, len(train), len(val), train_step, val_step)
