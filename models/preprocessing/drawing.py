"""Canvas drawings and photos of handwritten digits -> 28 x 28 MNIST-style digits, made the way MNIST was made.

MNIST's digits were cropped, scaled so the longer side is 20 px (anti-aliased) and placed in a 28 x 28
field with their centre of mass at the field's centre, which in MNIST's own pixels sits at (14.0, 14.0)
(row, column; 0-based pixel indices, measured on the 60,000 training digits: 13.996, 14.007).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.inputs import DIGIT_SIDE, image_shape_ok, unit_float

DIGIT_BOX = 20  # MNIST: the digit's longer side is scaled to 20 px ...
MNIST_CENTRE = 14.0  # ... and its centre of mass lands on pixel (14, 14) of the 28 x 28 field.
INK_THRESHOLD = 0.1  # ink level (0..1) below which a pixel counts as background when cropping
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601: RGB -> grey


def ink_level(image: np.ndarray) -> np.ndarray:
    """Ink intensity in [0, 1], float32 (H, W), of a canvas or image array (white ink on black).

    Accepts (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA under the input contract (uint8 0..255,
    float 0..1; see models.inputs). For RGBA, transparent pixels are background whatever their colour.
    Raises ValueError for any other shape or dtype.
    """
    a = np.asarray(image)
    if not image_shape_ok(a):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    x = unit_float(a, "(H, W, 4)")
    if x.ndim == 2:
        return x
    if x.shape[2] == 1:
        return x[:, :, 0]
    grey = x[:, :, :3] @ LUMA
    if x.shape[2] == 4:
        grey = grey * x[:, :, 3]
    return np.clip(grey, 0.0, 1.0)


@dataclass(frozen=True)
class DrawingSteps:
    """The stages of ``preprocess_drawing``, for showing "what the model sees".

    ink: float (H, W) ink level of the whole canvas; box: (top, bottom, left, right) of the ink;
    scaled: uint8 (h, w) crop with its longer side scaled to 20 px; digit: uint8 (28, 28) final input;
    center_of_mass: (row, col) of ``scaled`` before centring.
    """

    ink: np.ndarray
    box: tuple[int, int, int, int]
    scaled: np.ndarray
    digit: np.ndarray
    center_of_mass: tuple[float, float]


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, col) of the intensity-weighted centre of a 2-D image; its middle when it has no ink."""
    mass = np.asarray(image, np.float64)
    total = mass.sum()
    if total <= 0:
        return (mass.shape[0] - 1) / 2, (mass.shape[1] - 1) / 2
    return (float((mass.sum(axis=1) * np.arange(mass.shape[0])).sum() / total),
            float((mass.sum(axis=0) * np.arange(mass.shape[1])).sum() / total))


def drawing_steps(canvas: np.ndarray) -> DrawingSteps | None:
    """Run the MNIST preprocessing and keep every stage; None when there is no ink. See preprocess_drawing."""
    ink = ink_level(canvas)
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = DIGIT_BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    # Anti-aliased downscaling (as MNIST's) turns the hard canvas strokes into grey edges.
    img = Image.fromarray(np.round(crop * 255).astype(np.uint8))
    scaled = np.asarray(img.resize((new_w, new_h), Image.LANCZOS), dtype=np.uint8)
    cy, cx = center_of_mass(scaled)
    y0 = int(np.clip(round(MNIST_CENTRE - cy), 0, DIGIT_SIDE - new_h))
    x0 = int(np.clip(round(MNIST_CENTRE - cx), 0, DIGIT_SIDE - new_w))
    digit = np.zeros((DIGIT_SIDE, DIGIT_SIDE), np.uint8)
    digit[y0 : y0 + new_h, x0 : x0 + new_w] = scaled
    return DrawingSteps(ink, (top, bottom, left, right), scaled, digit, (cy, cx))


def preprocess_drawing(rgba: np.ndarray) -> np.ndarray | None:
    """A canvas drawing -> an MNIST-style digit, uint8 (28, 28), white on black; None for an empty canvas.

    rgba: the canvas as (H, W, 4) (also (H, W, 3) or (H, W)), light ink on a dark or transparent background,
    uint8 0..255 or float 0..1. Crops to the ink's bounding box, scales the longer side to 20 px keeping the
    aspect ratio, and pastes it into 28 x 28 with its centre of mass where MNIST has it. Raises ValueError
    for arrays that are not images under the input contract (shape, dtype, floats outside 0..1).
    """
    steps = drawing_steps(rgba)
    return None if steps is None else steps.digit


def digit_from_photo(rgb: np.ndarray) -> np.ndarray | None:
    """An uploaded picture of a handwritten digit -> uint8 (28, 28) like preprocess_drawing, or None.

    Pictures with a light background (dark ink on paper, detected from the border pixels) are inverted
    first; the ink is then stretched to full contrast and faint paper texture is cut off.
    """
    grey = ink_level(rgb)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:
        grey = 1.0 - grey
    lo, hi = np.percentile(grey, 50), grey.max()
    if hi - lo < 0.1:  # a blank or uniform picture
        return None
    grey = np.clip((grey - lo) / (hi - lo), 0, 1)
    grey[grey < 0.25] = 0  # paper texture and shadows are not ink
    return preprocess_drawing(grey)
