"""Shared by the app tests: MNIST digits re-drawn like a person draws them on the 280 x 280 canvas."""

from __future__ import annotations

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from training.strokes import CANVAS, draw_on_canvas  # noqa: F401 - MNIST digits re-drawn on the canvas


def stroke_canvas(points: list[tuple[int, int]], width: int = 20) -> np.ndarray:
    """A canvas with one polyline drawn through (x, y) points with a round pen: what a mouse stroke produces."""
    from PIL import ImageDraw

    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
    draw = ImageDraw.Draw(img)
    draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=(255, 255, 255, 255))
    return np.asarray(img)


def image_captions(at: AppTest) -> list[str]:
    """The caption of every picture shown (AppTest has no typed accessor for st.image)."""
    return [image.caption for element in at.get("image") for image in element.proto.imgs]
