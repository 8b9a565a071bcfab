"""Bending a digit: shift, rotate, scale, thicken or thin, add noise, erase a patch — and ``bend``, all at once.

Every function takes one digit (28, 28) or a batch (N, 28, 28) under the input contract of ``models.inputs``
(uint8 0..255 or float 0..1; anything else raises ValueError) and returns uint8 of the same shape. Settings
that change nothing (shift 0, angle 0, scale 1, thickness 0, noise 0) return the digit unchanged.
Rotation and scaling turn the digit about its centre of mass (rounded to the nearest pixel), the point MNIST
centres its digits on: the digit turns and grows in place, so only the asked-for change reaches the models.
NumPy and Pillow only; ``bend`` takes about 0.2 ms per digit, so the page can re-read a digit at every slider
move.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.inputs import DIGIT_SIDE, as_uint8
from models.preprocessing.drawing import center_of_mass


def as_digits(digits: np.ndarray) -> np.ndarray:
    """One digit (28, 28) or a batch (N, 28, 28) under the input contract -> uint8 of the same shape."""
    a = np.asarray(digits)
    if a.ndim not in (2, 3) or a.shape[-2:] != (DIGIT_SIDE, DIGIT_SIDE):
        raise ValueError(f"digits must have shape (28, 28) or (N, 28, 28), got {a.shape}")
    return as_uint8(a, "(28, 28)")


def whole(value: float, name: str) -> int:
    """``value`` as an int, or ValueError when it is not a whole number."""
    if not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number of pixels, got {value}")
    return int(value)


def each(x: np.ndarray, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``f`` (uint8 (28, 28) -> uint8 (28, 28)) to every digit of a (28, 28) or (N, 28, 28) array."""
    out = np.empty_like(x)
    for d, o in zip(x.reshape(-1, DIGIT_SIDE, DIGIT_SIDE), out.reshape(-1, DIGIT_SIDE, DIGIT_SIDE)):
        o[...] = f(d)
    return out


def shift(digits: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the digit ``dy`` pixels down and ``dx`` right (negative: up, left); pixels moved in are black."""
    x = as_digits(digits)
    n = DIGIT_SIDE
    dy, dx = (int(np.clip(whole(v, name), -n, n)) for v, name in ((dy, "dy"), (dx, "dx")))
    source = x[..., max(-dy, 0) : n - max(dy, 0), max(-dx, 0) : n - max(dx, 0)]  # the part that stays in view
    out = np.zeros_like(x)
    out[..., max(dy, 0) : n + min(dy, 0), max(dx, 0) : n + min(dx, 0)] = source
    return out


def turn(digits: np.ndarray, degrees: float, factor: float) -> np.ndarray:
    """Rotate by ``degrees`` (counter-clockwise) and scale by ``factor``, both about each digit's centre of mass,
    in one bilinear resampling (one blur, not two)."""
    x = as_digits(digits)
    if not (math.isfinite(factor) and factor > 0 and math.isfinite(degrees)):
        raise ValueError(f"need a finite angle and a scale factor > 0, got {degrees}, {factor}")
    if degrees % 360 == 0 and factor == 1:
        return x.copy()
    # Pillow maps each output pixel back to where it comes from: input = M (output - centre) + centre,
    # M = R(-angle) / factor. Rounding (as Pillow's own rotate does) makes cos 90 exactly 0.
    t = -math.radians(degrees)
    a, b = round(math.cos(t), 15) / factor, round(math.sin(t), 15) / factor

    # Shrinking samples the input more sparsely than its pixels, which breaks thin strokes apart (aliasing):
    # then render s times larger and average each s x s block back into one pixel.
    s = max(1, math.ceil(1 / factor))

    def one(d: np.ndarray) -> np.ndarray:
        # The centre of mass rounded to the nearest pixel, so quarter turns move pixels onto pixels (no blur);
        # + 0.5 because Pillow puts pixel i's centre at i + 0.5.
        cy, cx = (round(c) + 0.5 for c in center_of_mass(d))
        matrix = (a / s, b / s, cx - a * cx - b * cy, -b / s, a / s, cy + b * cx - a * cy)
        size = (DIGIT_SIDE * s, DIGIT_SIDE * s)
        img = Image.fromarray(d).transform(size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)
        return np.asarray(img.reduce(s) if s > 1 else img)

    return each(x, one)


def rotate(digits: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees`` about the digit's centre of mass (bilinear)."""
    return turn(digits, degrees, 1.0)


def scale(digits: np.ndarray, factor: float) -> np.ndarray:
    """Grow (factor > 1) or shrink (factor < 1) the digit about its centre of mass (bilinear)."""
    return turn(digits, 0.0, factor)


def thickness(digits: np.ndarray, amount: int) -> np.ndarray:
    """Thicken (amount > 0) or thin (amount < 0) the strokes by |amount| pixels on every side: grey-level
    dilation (each pixel takes the brightest of itself and its 4 neighbours), or erosion (the darkest),
    |amount| times. The 4-neighbour cross, not the 3 x 3 square: one square erosion wipes out MNIST's
    2-pixel strokes, the cross leaves a thin line."""
    x = as_digits(digits)
    k = whole(amount, "amount")
    extreme = np.maximum if k > 0 else np.minimum
    for _ in range(abs(k)):
        p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)])  # black beyond the border
        centre, up, down, left, right = (p[..., 1:-1, 1:-1], p[..., :-2, 1:-1], p[..., 2:, 1:-1],
                                         p[..., 1:-1, :-2], p[..., 1:-1, 2:])
        x = extreme.reduce([centre, up, down, left, right])
    return x.copy() if k == 0 else x


def noise(digits: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma`` (on the 0..1 pixel scale), clipped to 0..1.
    The same seed gives the same noise; every digit of a batch gets its own."""
    x = as_digits(digits)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return x.copy()
    z = np.random.default_rng(seed).standard_normal(x.shape, np.float32)
    return np.rint(np.clip(x / np.float32(255) + np.float32(sigma) * z, 0, 1) * 255).astype(np.uint8)


def erase(digits: np.ndarray, row: int, col: int, size: int) -> np.ndarray:
    """Black out the ``size`` x ``size`` square whose top-left pixel is (row, col), cut at the border."""
    x = as_digits(digits)
    row, col, size = whole(row, "row"), whole(col, "col"), whole(size, "size")
    if not (0 <= row < DIGIT_SIDE and 0 <= col < DIGIT_SIDE and size >= 0):
        raise ValueError(f"need 0 <= row, col < 28 and size >= 0, got {row}, {col}, {size}")
    out = x.copy()
    out[..., row : row + size, col : col + size] = 0
    return out


@dataclass(frozen=True)
class Bend:
    """All the bends at once. shift: (dy, dx) pixels; angle: degrees counter-clockwise; scale: factor;
    thickness: pixels (negative thins); noise: sigma on the 0..1 scale; erase: (row, col, size) or None;
    seed: of the noise. The defaults change nothing."""

    shift: tuple[int, int] = (0, 0)
    angle: float = 0.0
    scale: float = 1.0
    thickness: int = 0
    noise: float = 0.0
    erase: tuple[int, int, int] | None = None
    seed: int = 0


def bend(digits: np.ndarray, settings: Bend) -> np.ndarray:
    """Apply ``settings`` to a uint8 (28, 28) digit (or (N, 28, 28)) -> uint8, same shape, in this order:

    1. thickness (how the digit was written: in its own pixels, before any resampling);
    2. rotation and scale together, about the centre of mass (one resampling);
    3. shift (moves the finished shape; last of the geometry, so the digit turns in place first);
    4. erase (a patch at fixed image coordinates, where the user put it, whatever the geometry did);
    5. noise (over everything, the erased patch included, like noise from a sensor).
    """
    x = thickness(digits, settings.thickness)
    x = turn(x, settings.angle, settings.scale)
    x = shift(x, *settings.shift)
    if settings.erase is not None:
        x = erase(x, *settings.erase)
    return noise(x, settings.noise, settings.seed)
