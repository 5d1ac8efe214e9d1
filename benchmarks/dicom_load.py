"""Load time and peak memory of a 3000×3000 16-bit DX radiograph: ml.imaging vs plain pydicom.

    python benchmarks/dicom_load.py [--size 3000] [--repeats 5] > benchmarks/results/dicom_load.json

Baseline: ``pydicom.dcmread(path).pixel_array`` in the same run on the same file, so the ratio
is meaningful on any machine. pydicom picks the first plugin that decodes (GDCM when installed,
whose binding returns a str buffer); ``load_image`` prefers the dedicated plugin per syntax. ``load_image`` does more (header → Image, windows, spacing), and
for uncompressed files reads the pixels straight into one array. Peak memory is measured with
tracemalloc in a separate pass (it slows allocation), relative to the 18 MB pixel array.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYNTAXES = {
    "explicit_vr_little_endian": None,
    "jpeg_ls_lossless": "1.2.840.10008.1.2.4.80",
    "jpeg2000_lossless": "1.2.840.10008.1.2.4.90",
    "rle_lossless": "1.2.840.10008.1.2.5",
}


def radiograph_like(size: int, seed: int = 0) -> np.ndarray:
    """12-bit image with smooth anatomy-scale structure and quantum noise (compresses like a CXR)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    body = 2600 * np.exp(-(((x - 0.5) / 0.38) ** 4 + ((y - 0.55) / 0.45) ** 4))
    lungs = 900 * (np.exp(-(((x - 0.32) / 0.12) ** 2 + ((y - 0.45) / 0.22) ** 2)))
    lungs += 900 * (np.exp(-(((x - 0.68) / 0.12) ** 2 + ((y - 0.45) / 0.22) ** 2)))
    img = 300 + body - lungs + rng.normal(0, 12, (size, size)).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16)


def timed(fn, repeats: int) -> float:
    fn()  # warm: imports, plugin discovery, page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import pydicom
    from pydicom.pixels import get_decoder

    from ml.imaging import load_image
    from ml.imaging.dicom import write_dx

    arr = radiograph_like(args.size)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, syntax in SYNTAXES.items():
            path = write_dx(arr, Path(tmp) / f"{name}.dcm", spacing_mm=(0.143, 0.143), transfer_syntax=syntax)

            def ours(path=path):
                return load_image(path).pixels

            def plain(path=path):
                return pydicom.dcmread(path).pixel_array

            assert np.array_equal(ours(), arr) and np.array_equal(plain(), arr)
            t_ours, t_plain = timed(ours, args.repeats), timed(plain, args.repeats)
            m_ours, m_plain = peak_bytes(ours), peak_bytes(plain)
            results.append(
                {
                    "transfer_syntax": name,
                    # pydicom tries these in order; with python-gdcm installed GDCM comes first
                    "pydicom_plugin_order": list(get_decoder(syntax).available_plugins) if syntax else [],
                    "file_mb": round(path.stat().st_size / 1e6, 2),
                    "load_image_s": round(t_ours, 4),
                    "pydicom_pixel_array_s": round(t_plain, 4),
                    "time_ratio": round(t_ours / t_plain, 3),
                    "load_image_peak_mb": round(m_ours / 1e6, 1),
                    "pydicom_peak_mb": round(m_plain / 1e6, 1),
                    "peak_over_array": round(m_ours / arr.nbytes, 2),
                    "pydicom_peak_over_array": round(m_plain / arr.nbytes, 2),
                }
            )
    out = {
        "benchmark": "dicom_load",
        "image": f"{args.size}x{args.size} uint16 (12 bits stored), DX For Presentation",
        "array_mb": round(arr.nbytes / 1e6, 1),
        "repeats": args.repeats,
        "statistic": "median seconds after one warm-up; peak = tracemalloc peak of one load",
        "python": platform.python_version(),
        "pydicom": pydicom.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # a shared machine makes times noisy
        "results": results,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
