"""Is a bundle served in a fast CPU format (LoRA merged, weight-only int8/int4) as good as fp32?

Two measures on the same studies, each model drafting from the same seeded prompt:
- the reference reports' likelihood under the model (mean negative log-likelihood per report
  token, teacher forcing): a format that loses nothing matches fp32's;
- clinical efficacy (micro F1 of the rule labeler's CheXpert labels of the drafts against the
  studies' labels), and how often the two formats' drafts carry the same labels.

``compare_formats`` is what ``benchmarks/fastcpu_quality.py`` runs on a cohort's test split and
what the tests run on a few images; ``TOLERANCE`` is the promise the backend's default keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: How far a fast format may be from fp32: mean NLL per report token (nats, absolute) and CE micro F1.
TOLERANCE = {"nll": 0.05, "ce_f1": 0.05}


def _prompt(drafter: Any, image: Any, seed: int):  # noqa: ANN202
    """The prompt embeddings a ``predicted``-mode draft of ``image`` starts from (seeded scanpath)."""
    from ml.models.gaze2report import _table, px_per_deg_of

    net = drafter.net
    feats = drafter._features(image)
    xyd = net.predict_tables(feats, n=1, seed=seed)[0][0]
    table = _table(drafter._to_scanpath(xyd, image))
    prompts, _, _ = net.prompt_embeds(feats, [table], [image.size], ["predicted"], [px_per_deg_of(image.metadata)])
    return prompts[0]


def report_nll(drafter: Any, image: Any, report: str, seed: int = 0) -> tuple[float, int]:
    """Summed negative log-likelihood of ``report``'s tokens (and their count) after the prompt."""
    import torch

    net = drafter.net
    with drafter._lock, torch.no_grad():
        prompt = _prompt(drafter, image, seed)
        ids = net.report_ids(report)
        inputs, labels, mask = net.pack([prompt], [ids])
        logits = net.llm(inputs_embeds=inputs, attention_mask=mask).logits[0, :-1].float()
        target = labels[0, 1:]
        keep = target != -100
        logp = torch.log_softmax(logits[keep], -1)
        return float(-logp.gather(1, target[keep][:, None]).sum()), int(keep.sum())


def compare_formats(
    reference: Any, candidate: Any, studies: Sequence[Any], decoding: Any = None, seed: int = 0
) -> dict[str, Any]:
    """fp32 ``reference`` vs fast ``candidate`` (both ``Gaze2ReportDrafter``) on ``studies``.

    Each study needs an ``image_path``, a ``report`` and CheXpert ``labels``. Returns both models'
    mean report NLL and CE micro F1, the share of studies whose drafts carry identical labels, and
    ``within_tolerance``.
    """
    from ml.contracts import Decoding
    from ml.imaging import load_image
    from ml.metrics.clinical import clinical_efficacy
    from ml.metrics.labeler import label_report

    decoding = decoding or Decoding()
    nll = {"reference": [0.0, 0], "candidate": [0.0, 0]}
    labels: dict[str, list[dict]] = {"reference": [], "candidate": []}
    truth = []
    for study in studies:
        image = load_image(study.image_path)
        truth.append(study.labels)
        for name, model in (("reference", reference), ("candidate", candidate)):
            total, count = report_nll(model, image, study.report.text, seed)
            nll[name][0] += total
            nll[name][1] += count
            draft = model.generate(image, None, decoding, mode="predicted")
            labels[name].append(label_report(draft.text))
    out: dict[str, Any] = {"n": len(truth)}
    for name in ("reference", "candidate"):
        out[f"nll_{name}"] = nll[name][0] / max(nll[name][1], 1)
        out[f"ce_f1_{name}"] = clinical_efficacy(truth, labels[name]).micro.f1
    out["same_labels"] = sum(a == b for a, b in zip(labels["reference"], labels["candidate"], strict=True)) / max(
        len(truth), 1
    )
    out["nll_delta"] = out["nll_candidate"] - out["nll_reference"]
    out["ce_f1_delta"] = out["ce_f1_candidate"] - out["ce_f1_reference"]
    out["tolerance"] = dict(TOLERANCE)
    out["within_tolerance"] = out["nll_delta"] <= TOLERANCE["nll"] and out["ce_f1_delta"] >= -TOLERANCE["ce_f1"]
    return out
