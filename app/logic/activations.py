"""Layer activations as image grids: every hidden unit or feature map of one layer, one shared colour scale.

MLP layers are vectors of units: (512,) is shown as a 16 x 32 grid of pixels, one per unit. CNN layers are
stacks of feature maps (C, h, w): all C maps are tiled side by side. Within a layer every pixel uses the
same scale (0 -> dark, the layer's largest value -> yellow), so bright tiles really are the most active.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from app.logic.images import apply_colormap, enlarge, tile


@dataclass(frozen=True)
class LayerGrid:
    """One layer drawn as a picture. shape: the layer's shape for one input, e.g. (512,) or (32, 14, 14)."""

    name: str
    shape: tuple[int, ...]
    image: np.ndarray  # uint8 RGB
    vmax: float  # the value shown as the brightest colour

    @property
    def label(self) -> str:
        return f"{self.name} · {' × '.join(map(str, self.shape))}"


def unit_grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) for n units, as square as possible with cols >= rows: 512 -> (16, 32), 256 -> (16, 16)."""
    rows = 2 ** (int(math.log2(n)) // 2) if n & (n - 1) == 0 else math.isqrt(n)
    return rows, math.ceil(n / rows)


def layer_values(values: np.ndarray) -> np.ndarray:
    """One input's layer output -> float32 2-D picture: units (n,) to (rows, cols), maps (C, h, w) tiled."""
    v = np.asarray(values, np.float32)
    if v.ndim == 1:
        rows, cols = unit_grid_shape(v.size)
        padded = np.full(rows * cols, np.nan, np.float32)
        padded[: v.size] = v
        return padded.reshape(rows, cols)
    if v.ndim == 3:
        return tile(v)
    raise ValueError(f"expected a layer output of shape (n,) or (C, h, w), got {v.shape}")


def layer_grid(name: str, values: np.ndarray, vmax: float | None = None, min_side: int = 320) -> LayerGrid:
    """Draw one input's layer output with one colour scale from 0 to ``vmax`` (default: its maximum)."""
    v = np.asarray(values, np.float32)
    top = float(np.nanmax(v)) if vmax is None else float(vmax)
    top = top if top > 0 else 1.0  # an all-zero layer is shown dark rather than divided by zero
    picture = layer_values(v) / top
    return LayerGrid(name, tuple(v.shape), enlarge(apply_colormap(picture), min_side), top)


def activation_grids(activations: Mapping[str, np.ndarray], index: int = 0) -> list[LayerGrid]:
    """Grids of every hidden/conv layer of one input (``index`` in the batch); the logits are left out
    because the probability chart already shows them."""
    return [layer_grid(name, acts[index]) for name, acts in activations.items() if name != "logits"]
