"""Encoder-free distances between image sets: intensity histograms and power spectra."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.eval.realism import intensity_distance, log_spectrum, spectrum_distance


def _smooth_images(n: int, seed: int = 0, size: int = 64) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    return np.stack([ndimage.gaussian_filter(rng.uniform(0, 1, (size, size)), 4) for _ in range(n)])


def test_the_intensity_distance_is_the_shift_between_two_sets():
    a = _smooth_images(4)
    assert intensity_distance(a, a) == pytest.approx(0.0)
    assert intensity_distance(a, a + 0.1) == pytest.approx(0.1, abs=1e-6)
    assert intensity_distance(a, a + 0.1) == pytest.approx(intensity_distance(a + 0.1, a))


def test_the_spectrum_distance_sees_added_fine_noise_and_not_a_brightness_change():
    a = _smooth_images(6)
    noisy = a + 0.05 * np.random.default_rng(1).standard_normal(a.shape)
    assert spectrum_distance(a, a + 0.2) == pytest.approx(0.0, abs=1e-9)  # the mean is removed
    far = spectrum_distance(a, noisy)
    assert far > 0.5
    # the difference lies at high frequencies, where the smooth images have almost no power
    diff = log_spectrum(noisy) - log_spectrum(a)
    assert diff[-5:].mean() > diff[:3].mean() + 1.0


def test_realism_cli_compares_a_cohort_with_the_films(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from main import main
    from ml.eval import realism as realism_mod

    cohort = tmp_path / "cohort"
    (cohort / "images").mkdir(parents=True)
    rows = ["case_id,png"]
    for i, img in enumerate(_smooth_images(4, seed=2)):
        Image.fromarray((img * 255).astype(np.uint8)).save(cohort / "images" / f"C{i}.png")
        rows.append(f"C{i},images/C{i}.png")
    (cohort / "cases.csv").write_text("\n".join(rows) + "\n")
    films = []
    for i, img in enumerate(_smooth_images(4, seed=3)):
        p = tmp_path / f"film{i}.png"
        Image.fromarray((np.clip(img + 0.1 * np.random.default_rng(i).standard_normal(img.shape), 0, 1) * 255).astype(np.uint8)).save(p)
        films.append(p)
    monkeypatch.setattr(realism_mod, "chest_films", lambda: films)
    sheet = tmp_path / "sheet.png"
    assert main(["realism", "--cohort", str(cohort), "--n", "4", "--sheet", str(sheet), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = out["cohorts"][str(cohort)]
    assert row["images"] == 4 and row["spectrum"] > 0 and row["intensity"] >= 0
    assert set(out["real_vs_real"]) == {"intensity", "spectrum"} and sheet.is_file()
