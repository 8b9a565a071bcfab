"""The one input contract of every classifier and of ``models.preprocessing``: what an image array may be.

- uint8 means 0..255;
- floating point means 0..1: values outside [0, 1], NaN or infinity raise ValueError naming this rule;
- anything else (bool, other integers, objects, strings) raises ValueError naming the expected dtype and shape.

The same rule holds for digits, canvases and photos, so ``images / 255.0`` and ``images`` give the same answer.
Digits are white on black, (N, 28, 28) or one (28, 28). MNIST's normalisation lives here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DIGIT_SIDE = 28
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel statistics of the MNIST training set (0..1 scale)
RULE = "uint8 images are 0..255 and floating-point images are 0..1"


def check_values(a: np.ndarray, expected: str) -> None:
    """Raise ValueError unless ``a`` is uint8, or floating point with every value in [0, 1].

    ``expected`` describes the shape the caller wants, for the error message (e.g. "(N, 28, 28)").
    """
    if a.dtype == np.uint8:
        return
    if a.dtype.kind != "f":
        raise ValueError(f"expected uint8 (0..255) or float (0..1) images of shape {expected}, got dtype {a.dtype}")
    finite = bool(np.isfinite(a).all())
    if a.size and not (finite and a.min() >= 0.0 and a.max() <= 1.0):
        found = "NaN or infinity" if not finite else f"values from {a.min():g} to {a.max():g}"
        raise ValueError(f"{RULE}; these floats have {found}")


def unit_float(image: Any, expected: str) -> np.ndarray:
    """An image array under the contract -> float32 in [0, 1], same shape (see check_values)."""
    a = np.asarray(image)
    check_values(a, expected)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    return a.astype(np.float32, copy=False)


def as_uint8(image: Any, expected: str) -> np.ndarray:
    """An image array under the contract -> uint8 0..255 (floats in 0..1 are scaled and rounded)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a
    return np.rint(unit_float(a, expected) * np.float32(255.0)).astype(np.uint8)


def as_digit_batch(images: Any) -> np.ndarray:
    """Digits under the contract, (N, 28, 28) or one (28, 28) -> float32 (N, 28, 28) in [0, 1].

    Raises ValueError for any other shape or dtype, or floats outside [0, 1].
    """
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (DIGIT_SIDE, DIGIT_SIDE):
        raise ValueError(f"digit images must have shape (N, 28, 28) or (28, 28), got {np.shape(images)}")
    return unit_float(x, "(N, 28, 28)")


def normalise_digits(x: np.ndarray, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> np.ndarray:
    """Pixels in [0, 1] (any shape) -> float32 standardised with the MNIST statistics, (x - mean) / std."""
    return (np.asarray(x, np.float32) - np.float32(mean)) / np.float32(std)


def image_shape_ok(a: np.ndarray) -> bool:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with no empty side."""
    return a.ndim in (2, 3) and (a.ndim == 2 or a.shape[2] in (1, 3, 4)) and 0 not in a.shape


def as_photo_list(images: Any) -> list[np.ndarray]:
    """Photos under the contract -> a list of arrays, each (H, W) or (H, W, 1|3|4), uint8 or float in 0..1.

    Accepts a non-empty sequence of such arrays, one stacked array (N, H, W, C), or one image (an ndarray
    of 2 or 3 dimensions). Values are checked here; ``models.preprocessing.to_rgb`` converts each one.
    """
    if isinstance(images, np.ndarray):
        images = list(images) if images.ndim == 4 else [images]
    if not isinstance(images, Sequence) or isinstance(images, (str, bytes)) or len(images) == 0:
        raise ValueError("photos must be a non-empty sequence of (H, W, 3) arrays or one (N, H, W, 3) array")
    out = []
    for img in images:
        a = np.asarray(img)
        if not image_shape_ok(a):
            raise ValueError(f"each photo must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}")
        check_values(a, "(H, W, 3)")
        out.append(a)
    return out
