"""The ablation runner, tables and figures, driven by a small fake ReportModel (no torch model needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ml.contracts import Draft, GazeGraph
from ml.eval.runner import (
    Case,
    EvalConfig,
    EvalError,
    Row,
    cases_from_studies,
    run_eval,
    same_words,
    shuffle_positions,
    write_outputs,
)
from ml.eval.table import readme_section, results_markdown
from ml.types import Image, Report, Scanpath, ScanpathSource, Study

SIZE = (96, 80)  # (width, height)
R1_POINTS = [(22, 18), (58, 32), (42, 58), (72, 62)]  # the first reader's recorded fixations
REPORTS = {
    "img-a": "Moderate cardiomegaly. Small right pleural effusion. No pneumothorax.",
    "img-b": "Heart size is normal. Lungs are clear. No pleural effusion or pneumothorax.",
    "img-c": "Right apical pneumothorax. Heart size is normal.",
}


def _scanpath(points, reader="r1", source=ScanpathSource.SIMULATED) -> Scanpath:
    return Scanpath.from_array(np.array([(x, y, 0.3) for x, y in points]), SIZE, source, reader)


class FakeModel:
    """Echoes the reference for the recorded scanpath, keeps its first sentence for real gaze elsewhere
    (shuffled), drops a sentence for predicted gaze, says little without gaze."""

    def __init__(self):
        self.calls: list[tuple[str, str, bool]] = []

    def info(self):
        return {"name": "fake", "version": "0", "untrained": True}

    def predict_scanpaths(self, image, n=1, seed=0):
        return [
            _scanpath(
                [(20, 20), (60, 30), (40, 60), (70, 65)],
                reader="gaze2report",
                source=ScanpathSource.PREDICTED,
            )
        ]

    def gaze_graph(self, image, scanpath):
        return GazeGraph(scanpath, [1 / len(scanpath)] * len(scanpath))

    def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None, mode=None):
        ref = REPORTS[image.source]
        self.calls.append((image.source, mode, scanpath is not None))
        if mode == "real_gaze":
            assert scanpath is not None and scanpath.reader == "r1"
            recorded = [(f.x, f.y) for f in scanpath.fixations] == R1_POINTS
            text = ref if recorded else ref.split(". ")[0] + "."
            return Draft(text, scanpath, [1 / len(scanpath)] * len(scanpath), self.info())
        if mode in ("predicted", "no_gnn"):
            sp = self.predict_scanpaths(image)[0]
            text = ". ".join(ref.split(". ")[:-1]) + "." if mode == "predicted" else ref.split(". ")[0] + "."
            att = [0.1, 0.2, 0.3, 0.4] if mode == "predicted" else []
            return Draft(text, sp, att, self.info(), redrafted=mode == "predicted" and "effusion" in ref)
        return Draft("No acute cardiopulmonary abnormality.", None, [], self.info())


def _cases() -> list[Case]:
    r1 = _scanpath(R1_POINTS, "r1")
    r2 = _scanpath([(30, 25), (50, 40), (45, 55)], "r2")
    return [Case(k, k, v, [r1, r2]) for k, v in REPORTS.items()]


def _load(path: str) -> Image:
    rng = np.random.default_rng(0)
    return Image(pixels=rng.integers(0, 4096, size=(SIZE[1], SIZE[0])).astype(np.uint16), source=path)


@pytest.fixture(scope="module")
def results():
    model = FakeModel()
    out = run_eval(model, _cases(), EvalConfig(meteor=False, progress=False, examples=2), image_loader=_load)
    out["_model_calls"] = model.calls
    return out


def test_every_row_runs_on_every_case(results):
    calls = results.pop("_model_calls")
    assert len(calls) == 3 * len(Row)
    assert {(m, has) for _, m, has in calls} == {
        ("image_only", False),
        ("real_gaze", True),
        ("predicted", False),
        ("no_gnn", False),
    }
    assert list(results["rows"]) == list(Row.values())
    assert results["n_cases"] == 3 and results["n_readers"] == [2]


def test_rows_rank_as_the_fake_model_was_built(results):
    rows = results["rows"]
    assert rows["real_gaze"]["nlg"]["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert rows["real_gaze"]["ce"]["CE-F1"] == pytest.approx(1.0)
    assert (
        rows["real_gaze"]["nlg"]["BLEU-4"]
        > rows["predicted"]["nlg"]["BLEU-4"]
        > rows["image_only"]["nlg"]["BLEU-4"]
    )
    assert rows["no_gnn"]["ce"]["CE-R"] < 1.0  # "Moderate cardiomegaly." drops the effusion
    assert rows["image_only"]["nlg"]["METEOR"] is None and "METEOR" in results["skipped"]


def test_redrafts_are_counted_per_row_and_named_in_the_notes(results):
    from ml.eval.table import results_markdown

    with_effusion = sum("effusion" in r for r in REPORTS.values())
    assert 0 < with_effusion < len(REPORTS)
    assert {m: r["redrafted"] for m, r in results["rows"].items()} == {
        m: with_effusion if m == "predicted" else 0 for m in Row.values()
    }
    assert [c["redrafted"] for c in results["cases"]] == [
        ["predicted"] if "effusion" in r else [] for r in REPORTS.values()
    ]
    assert f"Predicted gaze (Gaze2Report) {with_effusion}" in results_markdown(results)


def test_scanpath_metrics_and_ceiling(results):
    pred = results["scanpath"]["predicted_vs_readers"]
    ceiling = results["scanpath"]["inter_reader_ceiling"]
    assert pred["n"] == 3 and ceiling["n"] == 3
    for key in ("scanmatch", "cc", "iou", "nss"):
        assert pred[key] is not None and math.isfinite(pred[key])
    assert set(pred["multimatch"]) == {"vector", "direction", "length", "position", "duration"}
    assert "scanpath" in results["rows"]["predicted"] and "scanpath" not in results["rows"]["image_only"]


def test_eval_reports_how_far_predicted_scanpaths_are_from_the_readers_in_distribution(results):
    """Predicted: 4 fixations with a 3-saccade path on every image; readers: 4 and 3 fixations."""
    dist, floor = results["scanpath"]["distributions"], results["scanpath"]["reader_distributions"]
    assert set(dist) == set(floor) == {"saccade_amplitude", "fixation_duration", "fixation_count", "coverage"}
    # fixation counts: predicted always 4; readers 4 and 3 on each image → W1 = 0.5; readers vs each other → 1
    assert dist["fixation_count"] == pytest.approx(0.5)
    assert floor["fixation_count"] == pytest.approx(1.0)
    assert all(v is not None and v >= 0 for v in (*dist.values(), *floor.values()))
    assert "| Predicted vs recorded readers | " in results_markdown(results).split("Distribution distance")[1]


def test_outputs_tables_and_figures(results, tmp_path):
    res = dict(results)
    paths = write_outputs(res, tmp_path, cohort="fake-cohort", bundle="fake-bundle")
    data = json.loads(
        paths["json"].read_text()
    )  # strict JSON: NaN would fail here with allow_nan=False below
    json.dumps(data, allow_nan=False)
    assert data["rows"]["real_gaze"]["ce"]["CE-F1"] == pytest.approx(1.0)
    assert "_examples" not in data
    md = paths["md"].read_text()
    for label in [r.label for r in Row]:
        assert label in md
    assert "Inter-reader agreement (ceiling)" in md and "fake-cohort" in md
    pngs = sorted(tmp_path.glob("example_*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 10_000 for p in pngs)
    section = readme_section(paths["json"])
    assert "synthetic cohort" in section
    assert "0.134" in section and "0.297" in section and "0.389" in section
    assert "0.80" in section and "0.50" in section and "0.41" in section
    assert results_markdown(data).count("\n| ") >= 6
    assert data["jobs"] == 1 and "summed over" not in section
    # With worker processes the seconds of generation add up over the workers: the note says so.
    assert "summed over 2 worker processes" in results_markdown({**data, "jobs": 2})


def test_model_without_modes_is_refused():
    class NoModes(FakeModel):
        def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None):
            raise AssertionError("not called")

    with pytest.raises(EvalError, match="mode"):
        run_eval(NoModes(), _cases(), EvalConfig(meteor=False, progress=False), image_loader=_load)
    with pytest.raises(EvalError, match="unknown row"):
        run_eval(FakeModel(), _cases(), EvalConfig(rows=("telepathy",), progress=False), image_loader=_load)


class _NoModes(FakeModel):
    def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None):
        raise AssertionError("not called")


def test_worker_processes_give_the_same_rows_and_cases():
    """``jobs`` shares the images among spawned processes, each building its own model; the results
    (rows, per-case drafts in order, scanpath metrics, example cases) are those of one process."""
    config = EvalConfig(meteor=False, progress=False, examples=2)
    one = run_eval(FakeModel(), _cases(), config, image_loader=_load)
    two = run_eval(FakeModel, _cases(), config, image_loader=_load, jobs=2)
    assert [c["id"] for c in two["cases"]] == list(REPORTS)
    assert two["cases"] == one["cases"]
    assert two["scanpath"] == one["scanpath"] and two["model"] == one["model"]
    for mode, row in one["rows"].items():
        other = dict(two["rows"][mode])
        assert other.pop("seconds_per_report") >= 0.0
        assert other == {k: v for k, v in row.items() if k != "seconds_per_report"}
    assert [e["case"].id for e in two["_examples"]] == ["img-a", "img-b"]
    with pytest.raises(EvalError, match="mode"):  # raised in a worker, reported as in one process
        run_eval(_NoModes, _cases(), config, image_loader=_load, jobs=2)
    with pytest.raises(EvalError, match="at least 1"):
        run_eval(FakeModel, _cases(), config, image_loader=_load, jobs=0)


def test_cases_group_readings_by_image():
    def reading(rid, dicom, split, reader, text):
        sp = _scanpath([(10, 10), (20, 20), (30, 30)], reader)
        return Study(id=rid, image_path=f"/img/{dicom}.png", report=Report(findings=text), scanpaths=[sp], split=split,
                     metadata={"dicom_id": dicom, "reading_id": rid})  # fmt: skip

    studies = [
        reading("b2", "d1", "test", "r2", "second reader"),
        reading("b1", "d1", "test", "r1", "first reader"),
        reading("c1", "d2", "train", "r1", "train image"),
        reading("a1", "d0", "test", "r1", "other image"),
    ]
    cases = cases_from_studies(studies, "test")
    assert [c.id for c in cases] == ["d0", "d1"]
    assert cases[1].reference == "first reader" and [s.reader for s in cases[1].scanpaths] == ["r1", "r2"]
    assert len(cases_from_studies(studies, "test", limit=1)) == 1
    assert len(cases_from_studies(studies, "all")) == 3
    with pytest.raises(EvalError, match="split 'val'"):
        cases_from_studies(studies, "val")


def test_update_readme_between_markers(results, tmp_path):
    from ml.eval.table import ReadmeError, update_readme

    data = {k: v for k, v in results.items() if k != "_examples"}
    readme = tmp_path / "README.md"
    readme.write_text(
        "# App\n\nintro\n\n<!-- results:start -->\nold numbers\n<!-- results:end -->\n\n## Licence\n"
    )
    update_readme(readme, data)
    text = readme.read_text()
    assert "old numbers" not in text and "synthetic cohort" in text
    assert text.startswith("# App\n\nintro") and text.rstrip().endswith("## Licence")
    update_readme(readme, data)  # idempotent: one section, not two
    assert text == readme.read_text()
    bare = tmp_path / "BARE.md"
    bare.write_text("# App\n")
    with pytest.raises(ReadmeError, match="markers"):
        update_readme(bare, data)


def test_images_without_recorded_gaze_are_left_out_of_every_row():
    cases = _cases()
    cases[1] = Case(cases[1].id, cases[1].image_path, cases[1].reference, [])
    res = run_eval(
        FakeModel(), cases, EvalConfig(meteor=False, progress=False, examples=0), image_loader=_load
    )
    assert res["n_cases"] == 2 and "img-b" in res["warnings"][0]
    only_image = run_eval(
        FakeModel(),
        cases,
        EvalConfig(rows=("image_only",), meteor=False, progress=False, examples=0),
        image_loader=_load,
    )
    assert only_image["n_cases"] == 3 and only_image["warnings"] == []
    with pytest.raises(EvalError, match="recorded scanpath"):
        run_eval(FakeModel(), [cases[1]], EvalConfig(meteor=False, progress=False), image_loader=_load)


class GatedModel(FakeModel):
    """The fake model behind a domain gate that finds "img-c" unlike its training images."""

    def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None, mode=None):
        from ml.contracts import DomainCheck

        draft = super().generate(image, scanpath, decoding, on_token, should_stop, mode)
        score = 30.0 if image.source == "img-c" else 5.0
        draft.domain = DomainCheck(score <= 12.0, score, 12.0, "mahalanobis")
        return draft


def test_the_share_flagged_out_of_domain_is_reported_per_row_and_split(results):
    gated = run_eval(GatedModel(), _cases(), EvalConfig(meteor=False, progress=False, examples=0), image_loader=_load)
    assert gated["domain"]["gate"] == "mahalanobis" and gated["domain"]["threshold"] == 12.0
    assert gated["domain"]["flagged"] == pytest.approx(1 / 3) and gated["domain"]["flagged_ids"] == ["img-c"]
    assert {m: r["flagged"] for m, r in gated["rows"].items()} == pytest.approx(dict.fromkeys(Row.values(), 1 / 3))
    assert [c["domain"]["in_domain"] for c in gated["cases"]] == [True, True, False]
    assert "33.3% of the split's 3 images flagged" in results_markdown(gated)

    assert results["domain"]["gate"] is None and all(r["flagged"] is None for r in results["rows"].values())
    assert "Domain gate: none" in results_markdown(results)


def test_shuffled_positions_keep_the_places_durations_and_order_but_move_the_places():
    xyd = [(10, 10, 0.1), (20, 15, 0.5), (30, 40, 0.2), (50, 60, 0.9), (70, 20, 0.3)]  # distinct dwell times
    recorded = Scanpath.from_array(np.array(xyd), SIZE, ScanpathSource.SIMULATED, "r1")
    shuffled = shuffle_positions(recorded, seed=0, key="img-a")
    places = [(f.x, f.y) for f in recorded.fixations]
    moved = [(f.x, f.y) for f in shuffled.fixations]
    assert sorted(moved) == sorted(places) and moved != places
    assert [(f.start, f.end) for f in shuffled.fixations] == [(f.start, f.end) for f in recorded.fixations]
    assert (shuffled.reader, shuffled.source, shuffled.image_size) == ("r1", recorded.source, SIZE)
    assert np.array_equal(shuffle_positions(recorded, seed=0, key="img-a").as_array(), shuffled.as_array())
    others = {tuple((f.x, f.y) for f in shuffle_positions(recorded, seed=s, key="img-a").fixations) for s in range(6)}
    assert len(others) > 1
    one = _scanpath([(10, 10)], "r1")
    assert np.array_equal(shuffle_positions(one, seed=0).as_array(), one.as_array())


def test_the_shuffled_row_gives_the_recorded_scanpath_with_moved_places_as_real_gaze():
    seen = []

    class Recording(FakeModel):
        def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None, mode=None):
            seen.append((mode, scanpath))
            return super().generate(image, scanpath, decoding, on_token, should_stop, mode)

    config = EvalConfig(rows=("shuffled_gaze",), meteor=False, progress=False, examples=0)
    res = run_eval(Recording(), _cases()[:1], config, image_loader=_load)
    [(mode, scanpath)] = seen
    assert mode == "real_gaze" and scanpath.reader == "r1"
    assert sorted((f.x, f.y) for f in scanpath.fixations) == sorted(R1_POINTS)
    assert [(f.x, f.y) for f in scanpath.fixations] != R1_POINTS
    assert list(res["rows"]) == ["shuffled_gaze"]
    assert res["rows"]["shuffled_gaze"]["label"] == "Real gaze, shuffled positions"


def test_drafts_that_differ_are_counted_for_every_pair_of_rows(results):
    diff = results["differing_drafts"]
    counts = {(p["a"], p["b"]): p["differ"] for p in diff["pairs"]}
    assert diff["n"] == 3 and len(counts) == len(Row) * (len(Row) - 1) // 2
    assert counts[("real_gaze", "shuffled_gaze")] == 3
    assert counts[("shuffled_gaze", "no_gnn")] == 0  # both keep the first sentence
    assert counts[("predicted", "no_gnn")] == 2  # "Right apical pneumothorax." both times for img-c
    assert counts[("image_only", "real_gaze")] == 3
    assert same_words("No  acute\ndisease.", "No acute disease.") and not same_words("No acute", "no acute")
    md = results_markdown(results)
    assert "| Predicted gaze (Gaze2Report) vs Predicted gaze w/o GNN | 2 of 3 |" in md
    assert "Drafts that differ word for word between rows, of 3 images" in readme_section(
        {k: v for k, v in results.items() if k != "_examples"}
    )


def test_per_observation_f1_shows_where_real_gaze_helps(results):
    per = results["per_observation"]
    assert per["reference_positives"]["Cardiomegaly"] == 1 and per["reference_positives"]["Fracture"] == 0
    real = results["rows"]["real_gaze"]["ce_per_observation"]
    assert real["Cardiomegaly"] == pytest.approx(1.0) and real["Fracture"] is None  # nobody names a fracture
    gain = per["real_gaze_minus_image_only"]
    assert gain["Cardiomegaly"] == pytest.approx(1.0) and gain["Fracture"] is None
    # the shuffled scanpath keeps the first sentence: cardiomegaly and the pneumothorax stay, the effusion goes
    vs_shuffled = per["real_gaze_minus_shuffled_gaze"]
    assert vs_shuffled["Cardiomegaly"] == pytest.approx(0.0) and vs_shuffled["Pleural Effusion"] == pytest.approx(1.0)
    md = results_markdown(results)
    assert "| Pleural Effusion | 1 |" in md and "+1.00" in md and "Real − shuffled" in md


class SeededModel(FakeModel):
    """Without gaze it names the reference's findings only for some decoding seeds and images."""

    def generate(self, image, scanpath=None, decoding=None, on_token=None, should_stop=None, mode=None):
        draft = super().generate(image, scanpath, decoding, on_token, should_stop, mode)
        self.calls[-1] = (*self.calls[-1], decoding.seed)
        if mode == "image_only" and (decoding.seed + sorted(REPORTS).index(image.source)) % 3 == 0:
            draft.text = REPORTS[image.source]
        return draft


def test_seeds_give_each_row_its_run_to_run_spread_of_ce_f1():
    import statistics

    model = SeededModel()
    config = EvalConfig(meteor=False, progress=False, examples=1, seeds=3)
    res = run_eval(model, _cases(), config, image_loader=_load)
    assert sorted({c[-1] for c in model.calls}) == [0, 1, 2] and len(model.calls) == 3 * 3 * len(Row)
    seeds = res["seeds"]
    assert seeds["decoding_seeds"] == [0, 1, 2]
    image = seeds["ce_f1"]["image_only"]
    assert len(set(image["per_seed"])) > 1 and image["std"] == pytest.approx(statistics.stdev(image["per_seed"]))
    assert seeds["ce_f1"]["real_gaze"]["std"] == pytest.approx(0.0)
    assert image["per_seed"][0] == pytest.approx(res["rows"]["image_only"]["ce"]["CE-F1"])  # rows: the first seed
    [gap] = [g for g in seeds["ce_f1_gaps"] if (g["row"], g["over"]) == ("real_gaze", "image_only")]
    assert gap["per_seed"] == pytest.approx([1.0 - f for f in image["per_seed"]])
    assert len(res["_examples"]) == 1 and len(res["cases"]) == 3
    md = results_markdown(res)
    assert "over 3 decoding seeds (0, 1, 2)" in md and f"{image['mean']:.3f} ± {image['std']:.3f}" in md
    one = run_eval(SeededModel(), _cases(), EvalConfig(meteor=False, progress=False, examples=0), image_loader=_load)
    assert one["seeds"]["ce_f1"]["image_only"]["std"] is None and "decoding seeds" not in results_markdown(one)
    with pytest.raises(EvalError, match="seeds must be at least 1"):
        run_eval(SeededModel(), _cases(), EvalConfig(seeds=0, progress=False), image_loader=_load)


def test_gaps_between_rows_come_with_an_interval_over_resampled_images(results):
    from ml.eval.runner import image_resampling

    gaps = {(g["row"], g["over"]): g for g in results["image_resampling"]}
    assert set(gaps) == {("real_gaze", "image_only"), ("real_gaze", "shuffled_gaze"), ("predicted", "image_only"),
                         ("predicted", "no_gnn")}  # fmt: skip
    rows = results["rows"]
    for (a, b), g in gaps.items():
        assert g["gap"] == pytest.approx(rows[a]["ce"]["CE-F1"] - rows[b]["ce"]["CE-F1"])
        assert g["low"] <= g["gap"] <= g["high"]
    assert "Gaps over resampled images" in results_markdown(results)

    found, none = {"Cardiomegaly": 1}, {"Cardiomegaly": 0}
    refs = [found] * 20
    always = image_resampling(refs, {"real_gaze": [found] * 20, "image_only": [none] * 20})
    assert [(g["gap"], g["low"], g["high"]) for g in always] == [(1.0, 1.0, 1.0)]
    # each finds the cardiomegaly on a different half of the images: no gap, and an interval around 0
    halves = {"real_gaze": [found] * 10 + [none] * 10, "image_only": [none] * 10 + [found] * 10}
    [g] = image_resampling(refs, halves)
    assert g["gap"] == 0.0 and g["low"] < 0 < g["high"]
