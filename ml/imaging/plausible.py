"""The last check every loader makes: decoded pixels that cannot be a radiograph are refused.

A blank frame, a thumbnail of a few pixels or a float array of NaN or 3e38 decodes without
error, and a report model would draft an ordinary report from it. Refusing them here, in the
one place the CLI, the backend and the GUI all read images through, keeps them out everywhere;
what is a plausible image but not a chest radiograph is the model's domain gate's question.
"""

from __future__ import annotations

import os

import numpy as np

from ml.imaging.errors import ImplausibleImage

#: Fewer pixels than this on a side is an icon or a test pattern, not a radiograph.
MIN_SIDE = 16
#: No detector stores more than 24 bits, and float32 holds integers exactly only up to 2**24.
MAX_ABS_VALUE = float(1 << 24)


def check_radiograph(pixels: np.ndarray, label: str) -> None:
    """Raise :class:`ImplausibleImage` unless ``pixels`` (modality values, 2-D) could be a radiograph."""
    name = os.path.basename(label) or label or "image"
    arr = np.asarray(pixels)
    rows, cols = arr.shape[0], arr.shape[1] if arr.ndim > 1 else 1
    if min(rows, cols) < MIN_SIDE:
        raise ImplausibleImage(
            f"{name} is {cols}×{rows} pixels: a radiograph has at least {MIN_SIDE} on each side",
            source=label,
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ImplausibleImage(f"{name} has NaN or infinite pixel values: not a radiograph", source=label)
    lo, hi = arr.min(), arr.max()
    if max(abs(float(lo)), abs(float(hi))) > MAX_ABS_VALUE:
        raise ImplausibleImage(
            f"{name} has pixel values up to {max(abs(float(lo)), abs(float(hi))):.3g}: "
            f"beyond any detector's range (±{MAX_ABS_VALUE:,.0f})",
            source=label,
        )
    if lo == hi:
        raise ImplausibleImage(
            f"{name} is one value ({float(lo):g}) everywhere: a blank image, not a radiograph", source=label
        )
