"""Shared by the app tests: MNIST digits re-drawn like a person draws them on the 280 x 280 canvas."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

CANVAS = 280


def draw_on_canvas(
    digit: np.ndarray, height: int = 200, centre: tuple[int, int] = (140, 140), stroke: int = 0
) -> np.ndarray:
    """uint8 (28, 28) MNIST digit -> uint8 RGBA (280, 280, 4) canvas, white ink on opaque black.

    The digit's 28 x 28 field is enlarged so the field is ``height`` px tall (10x for 280), pasted with its centre
    at ``centre`` (row, col) and clipped at the canvas edges; ``stroke`` > 0 thickens the strokes by a max
    filter of that many pixels (a wider pen); the ink is then made hard-edged like canvas strokes.
    """
    big = Image.fromarray(digit).resize((height, height), Image.BILINEAR)
    if stroke > 0:
        big = big.filter(ImageFilter.MaxFilter(2 * (stroke // 2) + 1))
    ink = (np.asarray(big) > 96).astype(np.uint8) * 255  # a canvas pen has no grey levels
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    top, left = centre[0] - height // 2, centre[1] - height // 2
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, CANVAS), min(left + height, CANVAS)
    canvas[r0:r1, c0:c1] = ink[r0 - top : r1 - top, c0 - left : c1 - left]
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[..., :3] = canvas[..., None]
    rgba[..., 3] = 255
    return rgba


def stroke_canvas(points: list[tuple[int, int]], width: int = 20) -> np.ndarray:
    """A canvas with one polyline drawn through (x, y) points with a round pen: what a mouse stroke produces."""
    from PIL import ImageDraw

    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
    draw = ImageDraw.Draw(img)
    draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=(255, 255, 255, 255))
    return np.asarray(img)
