import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml.contracts import Decoding
from ml.models.gaze2report import Gaze2ReportDrafter, GazeModeError, finding_place, scanpath_to_table
from ml.models.graph import fixation_table
from ml.types import CHEXPERT_OBSERVATIONS, Fixation, Image, Scanpath


def _image(w=80, h=64, seed=0):
    return Image(pixels=np.random.default_rng(seed).uniform(0, 1000, (h, w)).astype(np.float32))


def _scanpath(w=80, h=64):
    return Scanpath(
        [Fixation(10, 12, 0.0, 0.2), Fixation(60, 40, 0.25, 0.6), Fixation(30, 50, 0.7, 0.9)], (w, h)
    )


def test_labels_cover_report_tokens_only(tiny_net):
    net = tiny_net
    feats = net.encoder.features(torch.rand(2, 1, 64, 64))
    tab = fixation_table(torch.tensor([[0.2, 0.3, 0.3], [0.5, 0.5, 0.2]]))
    prompts, _, _ = net.prompt_embeds(feats, [tab, None], [(64, 64)] * 2, ["real_gaze", "image_only"])
    # gaze tokens: one per fixation + a graph summary; image_only has no gaze section at all
    n_text = len(net.prompt.pre) + len(net.prompt.post)
    label_logits, loc_logits = net.encoder.heads(feats)
    probs, loc = torch.sigmoid(label_logits), torch.sigmoid(loc_logits)
    n_vis = net.cfg.projector.global_tokens + 1 + net.cfg.encoder.n_labels  # grid + label + per-label
    n_words = [len(net.findings_ids(p, m)) for p, m in zip(probs, loc, strict=True)]  # diagnosis words
    assert prompts[0].shape[0] == n_text + n_vis + n_words[0] + len(net.prompt.mid) + 2 + 1
    assert prompts[1].shape[0] == n_text + n_vis + n_words[1]
    reports = [net.report_ids("FINDINGS: clear."), net.report_ids("FINDINGS: a much longer report here.")]
    inputs, labels, mask = net.pack(prompts, reports)
    for i, (p, r) in enumerate(zip(prompts, reports, strict=True)):
        n_p = p.shape[0]
        assert (labels[i, :n_p] == -100).all()
        assert labels[i, n_p : n_p + len(r)].tolist() == r
        assert (labels[i, n_p + len(r) :] == -100).all()  # padding (pad = eos) is masked by length
        assert int(mask[i].sum()) == n_p + len(r)
    assert reports[0][-1] == net.tokenizer.eos_token_id  # the model learns to stop


def test_findings_prompt_names_the_likely_observations(tiny_net):
    net = tiny_net
    probs = torch.full((len(CHEXPERT_OBSERVATIONS),), 0.1)
    probs[CHEXPERT_OBSERVATIONS.index("Pleural Effusion")] = 0.93
    probs[CHEXPERT_OBSERVATIONS.index("Cardiomegaly")] = 0.7
    probs[CHEXPERT_OBSERVATIONS.index("No Finding")] = 0.8  # never listed as a finding
    text = net.tokenizer.decode(net.findings_ids(probs))
    assert text.strip() == "Likely findings: cardiomegaly, pleural effusion."
    loc = torch.zeros(len(CHEXPERT_OBSERVATIONS), 8, 8)
    loc[:, 6:, :3] = 0.9  # everything at the image's lower left: the patient's right base
    text = net.tokenizer.decode(net.findings_ids(probs, loc))
    assert text.strip() == "Likely findings: cardiomegaly, pleural effusion (right lower)."  # heart: no side
    assert (
        net.tokenizer.decode(net.findings_ids(torch.full_like(probs, 0.2))).strip()
        == "Likely findings: none."
    )


def test_a_draft_lists_the_encoders_likely_findings_and_which_it_names(tiny_net, monkeypatch):
    from ml.contracts import EncoderFinding

    net = tiny_net.eval()
    effusion, lesion = (CHEXPERT_OBSERVATIONS.index(n) for n in ("Pleural Effusion", "Lung Lesion"))
    with torch.no_grad():  # make the encoder find an effusion and a lesion in any image
        net.encoder.label_head.weight.zero_()
        net.encoder.label_head.bias.fill_(-6.0)
        net.encoder.label_head.bias[[effusion, lesion]] = 6.0
    drafter = Gaze2ReportDrafter(net, {"name": "t"})
    draft = drafter.generate(_image(), decoding=Decoding(max_new_tokens=4))
    assert [f.label for f in draft.findings] == ["Lung Lesion", "Pleural Effusion"]
    assert all(isinstance(f, EncoderFinding) and f.probability > 0.99 for f in draft.findings)
    # in_draft is the rule labeler's reading of the draft: a positive mention only
    said = drafter._findings(drafter._features(_image()), "Small right pleural effusion. No nodule.")
    assert [(f.label, f.in_draft) for f in said] == [("Lung Lesion", False), ("Pleural Effusion", True)]
    with torch.no_grad():
        net.encoder.label_head.bias.fill_(-6.0)
    assert drafter.generate(_image(), decoding=Decoding(max_new_tokens=2)).findings == []


def test_finding_place_reads_side_and_zone_from_the_map():
    m = torch.zeros(16, 16)
    m[3:5, 11:14] = 0.8  # image right, top: the patient's left upper zone
    assert finding_place(m) == "left upper"
    m[3:5, 2:5] = 0.8  # as much on the other side: no side named
    assert finding_place(m) == "upper"
    m = torch.zeros(16, 16)
    m[6:9, 1:4] = 0.6
    m[6:9, 12:13] = 0.2  # faint spill below half the peak is ignored
    assert finding_place(m) == "right mid"
    assert finding_place(torch.zeros(4, 4)) == ""


def test_loss_equals_cross_entropy_on_report_tokens(tiny_net):
    net = tiny_net.eval()
    images = torch.rand(2, 1, 64, 64)
    tab = fixation_table(torch.tensor([[0.2, 0.3, 0.3], [0.5, 0.5, 0.2], [0.8, 0.1, 0.1]]))
    reports = [net.report_ids("FINDINGS: ok."), net.report_ids("FINDINGS: small effusion on the left.")]
    with torch.no_grad():
        out = net(images, [tab, tab], [(64, 64)] * 2, ["real_gaze", "no_gnn"], reports)
        feats = net.encoder.features(images)
        prompts, _, _ = net.prompt_embeds(feats, [tab, tab], [(64, 64)] * 2, ["real_gaze", "no_gnn"])
        inputs, labels, mask = net.pack(prompts, reports)
        logits = net.llm(inputs_embeds=inputs, attention_mask=mask).logits
    manual = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(out["loss"], manual, rtol=1e-4, atol=1e-4)
    assert int(out["n_tokens"]) == sum(len(r) for r in reports)


def test_gradients_reach_gnn_projector_and_lora_only(tiny_net):
    from ml.train.stages import lora_params, set_trainable

    net = tiny_net.train()
    params = list(net.gnn.parameters()) + list(net.projector.parameters()) + lora_params(net)
    set_trainable(net, params)
    tab = fixation_table(torch.tensor([[0.2, 0.3, 0.3], [0.5, 0.5, 0.2], [0.8, 0.1, 0.1]]))
    out = net(torch.rand(1, 1, 64, 64), [tab], [(64, 64)], ["real_gaze"], [net.report_ids("FINDINGS: x.")])
    out["loss"].backward()
    assert net.gnn.convs[0].lin_l.weight.grad is not None
    assert net.projector.gaze_mlp[0].weight.grad is not None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_params(net))
    assert all(p.grad is None for p in net.encoder.parameters())
    assert all(p.grad is None for n, p in net.llm.named_parameters() if "lora_" not in n)


def test_scanpath_table_is_normalised():
    t = scanpath_to_table(_scanpath())
    torch.testing.assert_close(t[1], torch.tensor([60 / 80, 40 / 64, 0.25, 0.6]))


def test_drafter_streams_and_reports_attention(tiny_net):
    drafter = Gaze2ReportDrafter(tiny_net, {"name": "t", "version": "0"})
    pieces: list[str] = []
    draft = drafter.generate(_image(), decoding=Decoding(max_new_tokens=12), on_token=pieces.append)
    assert "".join(pieces).strip() == draft.text
    assert draft.n_tokens <= 12
    assert draft.scanpath is not None and draft.scanpath.source.value == "predicted"
    assert len(draft.attention) == len(draft.scanpath) and abs(sum(draft.attention) - 1) < 1e-5
    assert draft.model["gaze_mode"] == "predicted"
    # the scanpath comes back in image pixels of this image
    xs = [f.x for f in draft.scanpath.fixations]
    assert all(0 <= x <= 80 for x in xs)


def test_drafter_modes(tiny_net):
    drafter = Gaze2ReportDrafter(tiny_net, {"name": "t"})
    img, sp = _image(), _scanpath()
    d = Decoding(max_new_tokens=6)
    real = drafter.generate(img, scanpath=sp, decoding=d)
    assert real.model["gaze_mode"] == "real_gaze" and real.scanpath is sp and len(real.attention) == 3
    only = drafter.generate(img, scanpath=sp, decoding=d, mode="image_only")
    assert only.scanpath is None and only.attention == []
    nognn = drafter.generate(img, scanpath=sp, decoding=d, mode="no_gnn")
    assert len(nognn.attention) == 3
    with pytest.raises(GazeModeError):
        drafter.generate(img, decoding=d, mode="real_gaze")
    with pytest.raises(GazeModeError):
        drafter.generate(img, decoding=d, mode="psychic")


def test_beam_search_and_stop(tiny_net):
    drafter = Gaze2ReportDrafter(tiny_net, {"name": "t"})
    pieces: list[str] = []
    beam = drafter.generate(
        _image(), decoding=Decoding(max_new_tokens=8, num_beams=3), on_token=pieces.append
    )
    assert [p.strip() for p in pieces] == [beam.text]  # beams: one piece at the end
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    stopped = drafter.generate(
        _image(),
        decoding=Decoding(max_new_tokens=40, no_repeat_ngram_size=0, repetition_penalty=1.0),
        should_stop=stop,
    )
    assert stopped.n_tokens <= 4


def test_predict_scanpaths_and_gaze_graph(tiny_net):
    drafter = Gaze2ReportDrafter(tiny_net, {"name": "t"})
    paths = drafter.predict_scanpaths(_image(), n=3, seed=2)
    assert len(paths) == 3 and all(p.image_size == (80, 64) for p in paths)
    # The first path of a seed is the one a draft with that seed uses (a sample, as in training).
    draft = drafter.generate(_image(), None, Decoding(max_new_tokens=2, seed=2), mode="predicted")
    assert draft.scanpath.as_array().tolist() == paths[0].as_array().tolist()
    g = drafter.gaze_graph(_image(), _scanpath())
    assert len(g.node_attention) == 3 and abs(sum(g.node_attention) - 1) < 1e-5
    assert len(g.edges) == len(g.edge_attention) == len(g.edge_types) > 0
    assert ("temporal" in g.edge_types) and set(g.edge_types) <= {"temporal", "spatial", "overlap"}
