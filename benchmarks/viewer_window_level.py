"""Window/level speed in the viewer on a 3000x3000 16-bit radiograph (prints JSON).

Measures, in one run on the same image and view size (1200x1000, offscreen):
- ``levels``: the viewer's way — ``ImageView.set_window`` changes the ImageItem's levels and the
  view repaints (pyqtgraph applies levels+LUT, ``autoDownsample`` to the screen size);
- ``recompute``: the naive way — recompute the 8-bit display image with ``Image.display(window)``
  and upload it with ``setImage`` for every window change.
Reports milliseconds per window change (median over N changes, each one a full repaint) and
the ratio; 60 Hz needs under 16.7 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(n: int = 30) -> dict:
    import numpy as np
    from PySide6 import QtWidgets

    from app.viewer.image_view import ImageView, prepare_display
    from ml.types import Image, Window

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:3000, 0:3000]
    px = (1500 + 900 * np.sin(xx / 400.0) * np.cos(yy / 300.0) + rng.normal(0, 60, (3000, 3000))).clip(
        0, 4095
    )
    image = Image(px.astype(np.uint16), spacing=(0.15, 0.15), bits_stored=12)
    t = time.perf_counter()
    display = prepare_display(image)
    prepare_ms = (time.perf_counter() - t) * 1e3

    view = ImageView()
    view.resize(1200, 1000)
    view.show()
    view.set_image(image, display, "bench")
    for _ in range(5):
        app.processEvents()

    paints = [0]
    original_paint = view.image_item.paint

    def counting_paint(*a, **k):
        paints[0] += 1
        return original_paint(*a, **k)

    view.image_item.paint = counting_paint

    def repaint() -> None:
        """Deliver the update the change scheduled: one paint, as on screen."""
        app.processEvents()
        if paints[0] == 0:
            view.graphics.viewport().repaint()

    windows = [Window(1500 + 20 * k, 1500 + 30 * (k % 7)) for k in range(n)]
    levels = []
    paints[0] = 0
    for w in windows:
        t = time.perf_counter()
        view.set_window(w)
        repaint()
        levels.append((time.perf_counter() - t) * 1e3)
    level_paints = paints[0]

    recompute = []
    for w in windows[: max(n // 3, 5)]:
        t = time.perf_counter()
        img8 = image.display(w)
        view.image_item.setImage(img8, autoLevels=False, levels=(0, 255))
        repaint()
        recompute.append((time.perf_counter() - t) * 1e3)

    lv, rc = statistics.median(levels), statistics.median(recompute)
    return {
        "image": "3000x3000 uint16 (12-bit)",
        "view": "1200x1000 offscreen",
        "changes": n,
        "prepare_display_ms": round(prepare_ms, 1),
        "levels_ms_median": round(lv, 2),
        "levels_ms_p90": round(sorted(levels)[int(0.9 * (len(levels) - 1))], 2),
        "recompute_ms_median": round(rc, 2),
        "speedup_levels_vs_recompute": round(rc / lv, 2),
        "levels_fps": round(1000.0 / lv, 1),
        "paints_per_change": round(level_paints / n, 2),
        "pyramid_level_shown": view._level,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
