"""Photo arrays -> the square RGB input of the photo models, identical in training and the app."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from models.inputs import as_photo_list, as_uint8, image_shape_ok, unit_float

NEUTRAL_GREY = (128, 128, 128)  # transparent pixels are shown on this: neither black nor white biases a model


def to_rgb(image: np.ndarray, background: tuple[int, int, int] = NEUTRAL_GREY) -> np.ndarray:
    """Any image array under the input contract (uint8 0..255 or float 0..1) -> uint8 RGB (H, W, 3).

    (H, W) and (H, W, 1) grey are repeated; (H, W, 4) RGBA is composited on ``background``. Raises
    ValueError for other shapes and dtypes, and for floats outside [0, 1] (see models.inputs).
    """
    a = np.asarray(image)
    if not image_shape_ok(a):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    a = as_uint8(a, "(H, W, 3)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        bg = np.asarray(background, np.float32)
        a = np.rint(a[:, :, :3] * alpha + bg * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


def resize_photo(image: np.ndarray, side: int) -> np.ndarray:
    """An image array -> uint8 (side, side, 3), stretched to a square with anti-aliased bilinear.

    The cats-vs-dogs photos were stretched to squares by their publisher, so training, evaluation and the
    app all stretch the same way: one function, identical pixels everywhere.
    """
    rgb = to_rgb(image)
    if rgb.shape[:2] == (side, side):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((side, side), Image.BILINEAR), dtype=np.uint8)


def photo_pixels(images: Any, side: int) -> np.ndarray:
    """Photos under the input contract -> float32 (N, side, side, 3) in [0, 1], the input of a photo model.

    A photo that is already (side, side, 3) is used as it is, so a float photo keeps its exact values (a
    gradient checked by finite differences needs that); any other is stretched by ``resize_photo``.
    """
    out = []
    for img in as_photo_list(images):
        if img.shape == (side, side, 3):
            out.append(unit_float(img, "(H, W, 3)"))
        else:
            out.append(resize_photo(img, side).astype(np.float32) / np.float32(255.0))
    return np.stack(out)
