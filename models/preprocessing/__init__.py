"""Turning what a user gives us into what the models take; one module per kind of input.

- ``drawing``: a canvas drawing or a photo of a handwritten digit -> a 28 x 28 MNIST-style digit;
- ``upload``: uploaded bytes -> a uint8 RGB photo (validation and decoding, ``load_photo``);
- ``canvas``: the drawing canvas's PNG bytes -> uint8 RGBA pixels (``read_canvas``);
- ``structure``: cheap structural checks on image bytes before any decoder sees them;
- ``sandbox``: decoding in worker processes under a hard budget of CPU time and memory;
- ``photo``: photo arrays -> the square input of the cats-vs-dogs network (``to_rgb``, ``resize_photo``).

Nothing here imports torch or streamlit. Every array follows the input contract of ``models.inputs``.
"""

from models.preprocessing.canvas import CANVAS_SIDE, read_canvas
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
from models.preprocessing.photo import NEUTRAL_GREY, resize_photo, to_rgb
from models.preprocessing.upload import (
    ALLOWED_FORMATS,
    MAX_PIXELS,
    MAX_SIDE,
    MAX_UPLOAD_BYTES,
    UPLOAD_EXTENSIONS,
    InvalidImageError,
    decode_photo,
    load_photo,
)

__all__ = [
    "ALLOWED_FORMATS", "CANVAS_SIDE", "DIGIT_BOX", "MAX_PIXELS", "MAX_SIDE", "MAX_UPLOAD_BYTES", "MNIST_CENTRE",
    "NEUTRAL_GREY", "UPLOAD_EXTENSIONS", "DrawingSteps", "InvalidImageError", "center_of_mass", "decode_photo",
    "digit_from_photo", "drawing_steps", "ink_level", "load_photo", "preprocess_drawing", "read_canvas",
    "resize_photo", "to_rgb",
]
