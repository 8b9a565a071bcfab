"""Arrays -> pictures: colour maps, tiling many small maps into one grid image, enlarging pixel art.

Everything returns uint8 RGB (H, W, 3) ready for ``st.image``. Matplotlib is not a dependency, so the two
colour maps are interpolated from a few control points of well-known maps.
"""

from __future__ import annotations

import math

import numpy as np

# Control points of viridis (sequential: dark violet = 0 -> yellow = maximum); readable in both themes.
_VIRIDIS = np.array(
    [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], np.float32,
)
# Diverging blue - white - red (RdBu reversed): negative weights blue, zero white, positive red.
_DIVERGING = np.array(
    [[5, 48, 97], [67, 147, 195], [209, 229, 240], [247, 247, 247], [253, 219, 199], [214, 96, 77], [103, 0, 31]],
    np.float32,
)
# "Turbo"-like heat for Grad-CAM: blue (cold) -> green -> yellow -> red (hot).
_HEAT = np.array(
    [[48, 18, 59], [70, 134, 251], [27, 229, 181], [164, 252, 60], [251, 185, 56], [228, 70, 10], [122, 4, 3]],
    np.float32,
)
COLORMAPS = {"viridis": _VIRIDIS, "diverging": _DIVERGING, "heat": _HEAT}
PAD_COLOUR = np.array([128, 128, 128], np.uint8)  # grey gaps between tiles: visible on light and dark pages


def apply_colormap(values: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Float array in [0, 1] (any shape S) -> uint8 RGB (*S, 3). NaN marks padding and becomes grey."""
    points = COLORMAPS[name]
    v = np.asarray(values, np.float32)
    nan = np.isnan(v)
    x = np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0) * (len(points) - 1)
    lo = np.minimum(np.floor(x).astype(np.int64), len(points) - 2)
    frac = (x - lo)[..., None]
    rgb = points[lo] * (1 - frac) + points[lo + 1] * frac
    out = np.rint(rgb).astype(np.uint8)
    out[nan] = PAD_COLOUR
    return out


def grid_shape(n: int, max_cols: int = 16) -> tuple[int, int]:
    """(rows, cols) for n tiles: near-square, at most max_cols wide, e.g. 32 -> (4, 8), 128 -> (8, 16)."""
    cols = min(max_cols, 2 ** math.ceil(math.log2(math.sqrt(n)))) if n > 1 else 1
    return math.ceil(n / cols), cols


def tile(maps: np.ndarray, cols: int | None = None, pad: int = 1) -> np.ndarray:
    """(C, h, w) maps -> one float (rows*(h+pad)-pad, cols*(w+pad)-pad) image, NaN in the gaps and unused tiles."""
    c, h, w = maps.shape
    rows, cols = grid_shape(c) if cols is None else (math.ceil(c / cols), cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, np.float32)
    for i in range(c):
        r, k = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = maps[i]
    return out


def enlarge(image: np.ndarray, min_side: int = 280, max_factor: int = 16) -> np.ndarray:
    """Nearest-neighbour upscaling by a whole factor so small maps stay crisp in the browser."""
    factor = int(np.clip(math.ceil(min_side / max(image.shape[:2])), 1, max_factor))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def grey_to_rgb(image: np.ndarray, min_side: int = 140) -> np.ndarray:
    """A uint8 (H, W) grey image (a digit) -> enlarged uint8 RGB, for showing the model's input pixels."""
    return enlarge(np.repeat(np.asarray(image, np.uint8)[:, :, None], 3, axis=2), min_side)
