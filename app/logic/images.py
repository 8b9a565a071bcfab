"""Arrays -> pictures: matplotlib's colour maps, tiling many small maps into one grid, enlarging pixel art.

Everything returns uint8 RGB (H, W, 3) ready for ``st.image``. Colour maps come from matplotlib (only its
colour tables are used, no plotting): viridis for activations, RdBu for signed weights, turbo for heat.
"""

from __future__ import annotations

import math

import numpy as np

# Our name -> matplotlib's. viridis: dark violet = 0 -> yellow = maximum, readable in both themes;
# RdBu_r: negative blue, zero white, positive red; turbo: blue (cold) -> red (hot), for Grad-CAM.
COLORMAPS = {"viridis": "viridis", "diverging": "RdBu_r", "heat": "turbo"}
PAD_COLOUR = np.array([128, 128, 128], np.uint8)  # grey gaps between tiles: visible on light and dark pages


def apply_colormap(values: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Float array in [0, 1] (any shape S) -> uint8 RGB (*S, 3). NaN marks padding and becomes grey."""
    from matplotlib import colormaps

    v = np.atleast_1d(np.asarray(values, np.float32))
    out = colormaps[COLORMAPS[name]](np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0), bytes=True)[..., :3]
    out[np.isnan(v)] = PAD_COLOUR
    return out.reshape(*np.shape(values), 3)


def grid_shape(n: int, max_cols: int = 16) -> tuple[int, int]:
    """(rows, cols) for n tiles: near-square, at most max_cols wide, e.g. 32 -> (4, 8), 128 -> (8, 16)."""
    cols = min(max_cols, 2 ** math.ceil(math.log2(math.sqrt(n)))) if n > 1 else 1
    return math.ceil(n / cols), cols


def tile(maps: np.ndarray, pad: int = 1) -> np.ndarray:
    """(C, h, w) maps -> one float image of grid_shape(C) tiles, ``pad`` NaN pixels between them (and in the
    empty cells of the last row), built with array operations: (rows, cols, h + pad, w + pad) -> 2-D."""
    maps = np.asarray(maps, np.float32)
    c, h, w = maps.shape
    rows, cols = grid_shape(c)
    cells = np.full((rows * cols, h + pad, w + pad), np.nan, np.float32)
    cells[:c, :h, :w] = maps
    grid = cells.reshape(rows, cols, h + pad, w + pad).transpose(0, 2, 1, 3).reshape(rows * (h + pad), cols * (w + pad))
    return grid[: grid.shape[0] - pad, : grid.shape[1] - pad]  # no gap after the last row and column


def enlarge(image: np.ndarray, min_side: int = 280, max_factor: int = 16) -> np.ndarray:
    """Nearest-neighbour upscaling by a whole factor so small maps stay crisp in the browser."""
    factor = int(np.clip(math.ceil(min_side / max(image.shape[:2])), 1, max_factor))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def grey_to_rgb(image: np.ndarray, min_side: int = 140) -> np.ndarray:
    """A uint8 (H, W) grey image (a digit) -> enlarged uint8 RGB, for showing the model's input pixels."""
    return enlarge(np.repeat(np.asarray(image, np.uint8)[:, :, None], 3, axis=2), min_side)


def side_by_side(pictures: list[np.ndarray], side: int = 140, gap: int = 10) -> np.ndarray:
    """Square uint8 RGB pictures -> one uint8 RGBA row of them, each resized to side x side (box filter to
    shrink, nearest neighbour to enlarge, so pixel art stays crisp), with transparent gaps: one picture to
    encode and to send instead of several, readable on light and dark pages."""
    from PIL import Image

    row = np.zeros((side, len(pictures) * (side + gap) - gap, 4), np.uint8)  # alpha 0: the gaps show the page
    for i, picture in enumerate(pictures):
        image = Image.fromarray(np.asarray(picture, np.uint8))
        fit = Image.Resampling.BOX if image.width > side else Image.Resampling.NEAREST
        row[:, i * (side + gap) : i * (side + gap) + side, :3] = np.asarray(image.resize((side, side), fit))
        row[:, i * (side + gap) : i * (side + gap) + side, 3] = 255
    return row
