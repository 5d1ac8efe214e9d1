"""The ablation runner, tables and figures, driven by a small fake ReportModel (no torch model needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ml.contracts import Draft, GazeGraph, GazeMode
from ml.eval.runner import Case, EvalConfig, EvalError, cases_from_studies, run_eval, write_outputs
from ml.eval.table import readme_section, results_markdown
from ml.types import Image, Report, Scanpath, ScanpathSource, Study

SIZE = (96, 80)  # (width, height)
REPORTS = {
    "img-a": "Moderate cardiomegaly. Small right pleural effusion. No pneumothorax.",
    "img-b": "Heart size is normal. Lungs are clear. No pleural effusion or pneumothorax.",
    "img-c": "Right apical pneumothorax. Heart size is normal.",
}


def _scanpath(points, reader="r1", source=ScanpathSource.SIMULATED) -> Scanpath:
    return Scanpath.from_array(np.array([(x, y, 0.3) for x, y in points]), SIZE, source, reader)


class FakeModel:
    """Echoes the reference for real gaze, drops a sentence for predicted gaze, says little without gaze."""

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
            return Draft(ref, scanpath, [1 / len(scanpath)] * len(scanpath), self.info())
        if mode in ("predicted", "no_gnn"):
            sp = self.predict_scanpaths(image)[0]
            text = ". ".join(ref.split(". ")[:-1]) + "." if mode == "predicted" else ref.split(". ")[0] + "."
            att = [0.1, 0.2, 0.3, 0.4] if mode == "predicted" else []
            return Draft(text, sp, att, self.info(), redrafted=mode == "predicted" and "effusion" in ref)
        return Draft("No acute cardiopulmonary abnormality.", None, [], self.info())


def _cases() -> list[Case]:
    r1 = _scanpath([(22, 18), (58, 32), (42, 58), (72, 62)], "r1")
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


def test_every_mode_runs_on_every_case(results):
    calls = results.pop("_model_calls")
    assert len(calls) == 3 * len(GazeMode)
    assert {(m, has) for _, m, has in calls} == {
        ("image_only", False),
        ("real_gaze", True),
        ("predicted", False),
        ("no_gnn", False),
    }
    assert list(results["rows"]) == list(GazeMode.values())
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
        m: with_effusion if m == "predicted" else 0 for m in GazeMode.values()
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
    for label in [m.label for m in GazeMode]:
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
    with pytest.raises(EvalError, match="unknown gaze mode"):
        run_eval(FakeModel(), _cases(), EvalConfig(modes=("telepathy",), progress=False), image_loader=_load)


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
        EvalConfig(modes=("image_only",), meteor=False, progress=False, examples=0),
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
    assert {m: r["flagged"] for m, r in gated["rows"].items()} == pytest.approx(dict.fromkeys(GazeMode.values(), 1 / 3))
    assert [c["domain"]["in_domain"] for c in gated["cases"]] == [True, True, False]
    assert "33.3% of the split's 3 images flagged" in results_markdown(gated)

    assert results["domain"]["gate"] is None and all(r["flagged"] is None for r in results["rows"].values())
    assert "Domain gate: none" in results_markdown(results)
