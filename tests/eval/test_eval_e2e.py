"""``main.py eval`` end to end: a tiny random bundle (the tiny test LLM of ml.models.llm) on a REFLACX-layout folder."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("torch")

REPORTS = [
    "FINDINGS: Moderate cardiomegaly. Small right pleural effusion. IMPRESSION: Cardiomegaly with effusion.",
    "FINDINGS: Heart size is normal. Lungs are clear. IMPRESSION: No acute disease.",
]


def _write_dataset(root, n_images=2, readers=2, size=(128, 112)):
    from PIL import Image as PILImage

    from ml.gaze.io import write_fixations
    from ml.types import Scanpath, ScanpathSource

    main = root / "main_data"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_images):
        img = (rng.random((size[1], size[0])) * 255).astype(np.uint8)
        PILImage.fromarray(img).save(root / "images" / f"img{i}.png")
        for r in range(readers):
            rid = f"R{i}{r}"
            xyd = np.column_stack(
                [rng.uniform(5, size[0] - 5, 6), rng.uniform(5, size[1] - 5, 6), np.full(6, 0.25)]
            )
            sp = Scanpath.from_array(xyd, size, ScanpathSource.RECORDED, reader=f"reader{r}")
            (main / rid).mkdir(parents=True)
            write_fixations(main / rid / "fixations.csv", sp)
            (main / rid / "transcription.txt").write_text(REPORTS[i % len(REPORTS)])
            rows.append({"id": rid, "split": "test", "image": f"images/img{i}.png", "dicom_id": f"img{i}",
                         "reader": f"reader{r}", "image_size_x": size[0], "image_size_y": size[1],
                         "eye_tracking_data_discarded": "False"})  # fmt: skip
    with open(main / "metadata_phase_1.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.mark.slow
def test_eval_cli_on_a_tiny_bundle(tmp_path, capsys):
    import torch

    from main import main
    from ml.models.bundle import base_identity, build_model, save_bundle
    from ml.models.config import ModelConfig, from_dict
    from ml.train.synthetic import TINY_MODEL_CONFIG

    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = build_model(from_dict(ModelConfig, TINY_MODEL_CONFIG), tiny=True)
    bundle = save_bundle(net, tmp_path / "bundle", base_identity("tiny"))
    data = tmp_path / "data"
    _write_dataset(data)
    out = tmp_path / "out"
    code = main(["eval", "--bundle", str(bundle), "--cohort", str(data), "--out", str(out), "--max-new-tokens", "6",
                 "--no-meteor", "--examples", "1", "--readme"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    results = json.loads((out / "results.json").read_text())
    assert set(results["rows"]) == {"image_only", "real_gaze", "shuffled_gaze", "predicted", "no_gnn"}
    assert results["n_cases"] == 2 and results["n_readers"] == [2]
    for row in results["rows"].values():
        assert 0.0 <= row["nlg"]["BLEU-1"] <= 1.0 and 0.0 <= row["ce"]["CE-F1"] <= 1.0
    assert results["scanpath"]["predicted_vs_readers"]["n"] == 2
    assert results["scanpath"]["inter_reader_ceiling"]["n"] == 2
    assert all(len(c["generated"]) == 5 for c in results["cases"])
    assert len(results["differing_drafts"]["pairs"]) == 10 and results["seeds"]["decoding_seeds"] == [0]
    assert (out / "results.md").is_file() and (out / "example_1.png").is_file()
    assert "Predicted gaze (Gaze2Report)" in captured.out and "synthetic cohort" in captured.out

    # Two worker processes, each loading the bundle: the same drafts, in the same order.
    code = main(["eval", "--bundle", str(bundle), "--cohort", str(data), "--out", str(tmp_path / "out2"),
                 "--max-new-tokens", "6", "--no-meteor", "--examples", "1", "--jobs", "2"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    parallel = json.loads((tmp_path / "out2" / "results.json").read_text())
    assert parallel["cases"] == results["cases"]
    assert (
        main(["eval", "--bundle", str(bundle), "--cohort", str(data), "--jobs", "2", "--device", "cuda"]) == 2
    )
    assert "--jobs" in capsys.readouterr().err
    assert main(["eval", "--bundle", str(tmp_path / "no-bundle"), "--cohort", str(data), "--jobs", "2"]) == 2
    assert "cannot load the bundle" in capsys.readouterr().err


def test_eval_cli_reports_missing_data(tmp_path, capsys):
    from main import main

    assert main(["eval", "--cohort", str(tmp_path / "nowhere")]) == 2
    assert "eval:" in capsys.readouterr().err
