"""The drawing canvas's image -> uint8 RGBA pixels: ``read_canvas`` is the one way the app reads it.

The canvas component sends the drawing as a PNG inside a data URL, and the browser is not to be trusted:
anything can arrive in its place (a TIFF, a 13,300-pixel PNG, a truncated file). So the app never lets the
component decode it (its ``image_data`` hands the bytes to Pillow with no limits); it takes the raw bytes
(``image_bytes``) and this module accepts exactly what a browser canvas produces, a side x side PNG with
8-bit RGB(A) pixels, refuses anything else with a message, and decodes it in a worker under the same
budget as uploads (``uploads.pool``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from uploads.limits import InvalidImageError
from uploads.pool import default_pool
from uploads.structure import StructureError, check_png

CANVAS_SIDE = 280  # the app's canvas: 10 x MNIST's 28 px
MAX_CANVAS_BYTES = 2**20  # a 280 x 280 RGBA PNG is at most ~320 KB, even stored without compression
MAX_DECODED_SIDE = 4096  # what a worker decodes at most; the exact size is checked before and after
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _refuse(what: str) -> InvalidImageError:
    return InvalidImageError(f"The drawing could not be read: {what}. Please clear the canvas and draw again.")


def check_canvas_png(data: Any, side: int | None = CANVAS_SIDE) -> bytes:
    """The bytes, if they are a plain PNG of side x side (any size up to MAX_DECODED_SIDE when ``side`` is
    None) with 8-bit RGB or RGBA pixels, not interlaced; raises InvalidImageError otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _refuse("the canvas sent no image")
    data = bytes(data)
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33:
        raise _refuse("the canvas sent something that is not a PNG image")
    if len(data) > MAX_CANVAS_BYTES:
        raise _refuse(f"the image is larger than {MAX_CANVAS_BYTES // 2**20} MB")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    bit_depth, colour_type, interlace = data[24], data[25], data[28]
    wrong_size = (width, height) != (side, side) if side else not 0 < max(width, height) <= MAX_DECODED_SIDE
    if data[12:16] != b"IHDR" or wrong_size:
        raise _refuse(f"expected a {side} x {side} picture, got {width} x {height}")
    if bit_depth != 8 or colour_type not in (2, 6) or interlace != 0:
        raise _refuse("the picture is not in the format a browser canvas sends")
    try:
        check_png(data)
    except StructureError as e:
        raise _refuse("the PNG file is malformed") from e
    return data


def decode_canvas(data: bytes) -> np.ndarray:
    """Checked canvas PNG bytes -> uint8 RGBA (H, W, 4), in the calling process (what the worker runs)."""
    data = check_canvas_png(data, side=None)
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            im.load()
            return np.asarray(im.convert("RGBA"))
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - a truncated or corrupt PNG, whatever Pillow calls it
        raise _refuse("the PNG file is truncated or corrupt") from e


def read_canvas(data: Any, side: int = CANVAS_SIDE, *, sandbox: bool = True) -> np.ndarray:
    """The canvas component's PNG bytes (``image_bytes``) -> uint8 RGBA (side, side, 4).

    Raises InvalidImageError, with a message for the user, for anything but a side x side 8-bit RGB(A)
    PNG, or one that cannot be decoded within the decoding budget. With ``sandbox`` (the default) the PNG
    is decoded in a worker process, like every upload.
    """
    data = check_canvas_png(data, side)
    rgba = default_pool().run(decode_canvas, data) if sandbox else decode_canvas(data)
    if rgba.shape != (side, side, 4):
        raise _refuse(f"expected a {side} x {side} picture")
    return rgba
