"""Turning images into what the models take; one module per kind of input.

- ``drawing``: a canvas drawing or a photo of a handwritten digit -> a 28 x 28 MNIST-style digit;
- ``photo``: photo arrays -> the square input of a photo model (``to_rgb``, ``resize_photo``, ``photo_pixels``).

Reading what a visitor sends (upload files, the canvas's PNG) is the ``uploads`` package's job; it imports
this one, never the other way round. Nothing here imports torch or streamlit. Every array follows the input
contract of ``models.inputs``.
"""

from models.preprocessing.drawing import (
    DIGIT_BOX,
    MNIST_CENTRE,
    DrawingSteps,
    center_of_mass,
    digit_from_photo,
    drawing_steps,
    ink_level,
    preprocess_drawing,
)
from models.preprocessing.photo import NEUTRAL_GREY, photo_pixels, resize_photo, to_rgb

__all__ = [
    "DIGIT_BOX", "MNIST_CENTRE", "NEUTRAL_GREY", "DrawingSteps", "center_of_mass", "digit_from_photo",
    "drawing_steps", "ink_level", "photo_pixels", "preprocess_drawing", "resize_photo", "to_rgb",
]
