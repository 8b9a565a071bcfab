"""Turning what a user gives us into what the models take: canvas drawings, uploaded files, photos.

- ``preprocess_drawing``: a canvas (RGBA, white ink on black) -> a 28x28 MNIST-style digit, made the way
  MNIST itself was made (crop, scale the longer side to 20 px, centre the centre of mass in 28x28).
- ``load_photo``: the one entry point for uploaded bytes -> uint8 RGB, refusing anything unsafe or
  unreadable with an ``InvalidImageError`` whose message can be shown to a user.
- ``to_rgb`` / ``resize_photo``: the exact photo pipeline shared by training, evaluation and the app.

Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

DIGIT_BOX = 20  # MNIST: the digit's longer side is scaled to 20 px ...
DIGIT_SIDE = 28  # ... and centred by centre of mass in a 28 x 28 field.
INK_THRESHOLD = 0.1  # ink level (0..1) below which a pixel counts as background when cropping

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 60_000_000  # above any phone camera; refuse before decoding (decompression bombs)
MAX_SIDE = 1600  # photos are downscaled to at most this side after decoding
# Decoders Image.open may use. Only registered opener names belong here: an unknown name makes Pillow raise
# KeyError for every file tried after it. Multi-picture JPEGs (MPO) open through the JPEG opener.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "gif")  # file names of those formats, for upload widgets
NEUTRAL_GREY = (128, 128, 128)
CORRUPT_MESSAGE = "The image file is truncated or corrupt and could not be decoded."
# First bytes of the accepted formats, to tell a broken image from a file that is no image at all.
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"RIFF")


class InvalidImageError(ValueError):
    """An uploaded file is not an image we can use; the message is written for the user."""


# --- digits -------------------------------------------------------------------------------------------
def ink_level(image: np.ndarray) -> np.ndarray:
    """Ink intensity in [0, 1], float32 (H, W), of a canvas or image array.

    Accepts (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA; light ink counts as ink (white on black). For
    RGBA, transparent pixels are background whatever their colour. uint8 is read as 0..255; other numeric
    types as 0..1 when their maximum is at most 1, else 0..255. Raises ValueError for any other shape.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"expected a numeric image, got dtype {a.dtype}")
    if a.dtype.kind == "f":  # NaN and infinities are not ink; clip before float32 so 1e300 stays ink
        a = np.clip(np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 256.0)
    x = a.astype(np.float32)
    if a.dtype == np.uint8 or x.max(initial=0.0) > 1.0:
        x = x / 255.0
    x = np.clip(x, 0.0, 1.0)
    if x.ndim == 2:
        return x
    grey = x[:, :, :3] @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma
    if x.shape[2] == 4:
        grey = grey * x[:, :, 3]
    return grey


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
    mass = scaled.astype(np.float64)
    total = mass.sum()
    if total > 0:
        cy = float((mass.sum(axis=1) * np.arange(new_h)).sum() / total)
        cx = float((mass.sum(axis=0) * np.arange(new_w)).sum() / total)
    else:  # a faint speck that vanished in the downscale
        cy, cx = (new_h - 1) / 2, (new_w - 1) / 2
    centre = (DIGIT_SIDE - 1) / 2
    y0 = int(np.clip(round(centre - cy), 0, DIGIT_SIDE - new_h))
    x0 = int(np.clip(round(centre - cx), 0, DIGIT_SIDE - new_w))
    digit = np.zeros((DIGIT_SIDE, DIGIT_SIDE), np.uint8)
    digit[y0 : y0 + new_h, x0 : x0 + new_w] = scaled
    return DrawingSteps(ink, (top, bottom, left, right), scaled, digit, (cy, cx))


def preprocess_drawing(rgba: np.ndarray) -> np.ndarray | None:
    """A canvas drawing -> an MNIST-style digit, uint8 (28, 28), white on black; None for an empty canvas.

    rgba: the canvas as (H, W, 4) uint8 (also (H, W, 3) or (H, W)), light ink on a dark or transparent
    background. Crops to the ink's bounding box, scales the longer side to 20 px keeping the aspect ratio,
    and pastes it into 28 x 28 with its centre of mass at the centre. Raises ValueError for arrays that
    are not images (wrong number of dimensions or channels, non-numeric dtype).
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


# --- photos -------------------------------------------------------------------------------------------
def to_rgb(image: np.ndarray, background: tuple[int, int, int] = NEUTRAL_GREY) -> np.ndarray:
    """Any image array -> uint8 RGB (H, W, 3).

    (H, W) and (H, W, 1) grey are repeated; (H, W, 4) RGBA is composited on ``background``; float arrays
    in 0..1 are scaled to 0..255. Raises ValueError for other shapes or non-numeric data.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.dtype != np.uint8:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise ValueError(f"expected a numeric image, got dtype {a.dtype}")
        x = np.nan_to_num(a.astype(np.float64))
        if a.dtype == bool or x.max(initial=0) <= 1.0:
            x = x * 255.0
        a = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        bg = np.asarray(background, np.float32)
        a = np.rint(a[:, :, :3] * alpha + bg * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


def resize_photo(image: np.ndarray, side: int) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> uint8 (side, side, 3), stretched to a square with anti-aliased bilinear.

    The cats-vs-dogs photos were stretched to squares by their publisher, so training, evaluation and the
    app all stretch the same way: one function, identical pixels everywhere.
    """
    rgb = to_rgb(image)
    if rgb.shape[:2] == (side, side):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((side, side), Image.BILINEAR), dtype=np.uint8)


def _sniff_unsupported(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "SVG drawings are vector graphics, not photos. Please upload a JPEG, PNG, WebP, BMP or GIF."
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"):
        return "HEIC/HEIF/AVIF photos are not supported. Please export the photo as JPEG or PNG and upload that."
    if head.startswith((b"<!doctype", b"<html", b"<")):
        return "This file is text (HTML or XML), not an image. Please upload a JPEG, PNG, WebP, BMP or GIF."
    return None


def _looks_like_text(data: bytes) -> bool:
    """True when the start of ``data`` is printable UTF-8 text (a .txt or .csv renamed to .jpg, say)."""
    head = data[:1024]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut at the 1024-byte mark is still text
        if e.start < len(head) - 3:
            return False
        text = head[: e.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _to_8bit(im: Image.Image) -> Image.Image:
    """High-bit-depth greyscale (16-bit PNG, 32-bit int or float) -> 8-bit 'L', scaled, not clipped."""
    a = np.asarray(im).astype(np.float32)  # float32 is exact for 16-bit values and half float64's memory
    top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
    if im.mode == "F" and a.max(initial=0) <= 1.0:
        top = 1.0
    a *= 255.0 / top
    np.rint(a, out=a)
    np.clip(a, 0, 255, out=a)
    return Image.fromarray(a.astype(np.uint8), "L")


# EXIF orientation tag -> the transposition that makes the picture upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8) of a loaded image; 1 (as stored) when absent or unreadable."""
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block should not cost the user the photo
        return 1
    return value if value in _ORIENTATION else 1


def _to_rgb_rgba_or_l(im: Image.Image) -> Image.Image:
    """Any decoded mode -> 'L', 'RGB' or 'RGBA' (8 bits per channel), keeping transparency as alpha.

    Alpha is added only where the file has transparency, so an opaque palette photo costs 3 bytes a pixel.
    """
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _to_8bit(im)
    if im.mode in ("PA", "LA", "La", "RGBa") or "transparency" in im.info:
        return im.convert("RGBA")
    if im.mode == "1":
        return im.convert("L")
    if im.mode not in ("RGB", "RGBA", "L"):
        return im.convert("RGB")  # palette, CMYK, YCbCr ...
    return im


def load_photo(data: bytes, background: tuple[int, int, int] = NEUTRAL_GREY) -> np.ndarray:
    """Uploaded file bytes -> uint8 RGB (H, W, 3), upright, at most MAX_SIDE on its longer side.

    Accepts JPEG, PNG, WebP, BMP and GIF (first frame of animations). Honours EXIF orientation, converts
    CMYK, palette, 16-bit and greyscale images, and composites transparency on ``background``. Refuses,
    with an InvalidImageError fit to show a user: anything that is not bytes, empty or oversized files,
    text/HTML/SVG, HEIC/AVIF, truncated or corrupt data, and images over MAX_PIXELS (checked from the
    header, before anything is decoded, so a decompression bomb costs nothing). Memory stays bounded:
    big JPEGs are decoded at a reduced scale, other big images are box-reduced right after decoding.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImageError("Expected the bytes of an image file.")
    data = bytes(data)
    if len(data) == 0:
        raise InvalidImageError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidImageError(f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
    reason = _sniff_unsupported(data)
    if reason:
        raise InvalidImageError(reason)
    too_big = f"larger than the {MAX_PIXELS // 1_000_000} megapixels we accept"
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as e:  # Pillow's own header check, above ours
        raise InvalidImageError(f"The image is {too_big}.") from e
    except Exception as e:  # noqa: BLE001 - any decoder failure is the same answer for a user
        if _looks_like_text(data):
            raise InvalidImageError(
                "This file is text, not an image. Please upload a JPEG, PNG, WebP, BMP or GIF."
            ) from e
        if data.startswith(_IMAGE_SIGNATURES):  # an image of ours whose header is cut off or mangled
            raise InvalidImageError(CORRUPT_MESSAGE) from e
        raise InvalidImageError(
            "This file is not an image we can read. Please upload a JPEG, PNG, WebP, BMP or GIF."
        ) from e
    width, height = im.size
    if width < 1 or height < 1:
        raise InvalidImageError("The image has no pixels.")
    if width * height > MAX_PIXELS:
        raise InvalidImageError(f"The image is {width} x {height} pixels, {too_big}.")
    try:
        im.seek(0)  # animated GIF/PNG/WebP: the first frame
        if im.format in ("JPEG", "MPO"):
            im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode big JPEGs at 1/2..1/8 scale: bounded memory
        im.load()
        orientation = _orientation(im)
        im = _to_rgb_rgba_or_l(im)
        factor = max(im.size) // MAX_SIDE
        if factor >= 2:  # box-reduce at once, dropping the full-size pixels before any further copy
            im = im.reduce(factor)
        if orientation in _ORIENTATION:
            im = im.transpose(_ORIENTATION[orientation])  # on the small image: cheap
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        rgb = to_rgb(np.asarray(im), background=background)
    except Exception as e:  # noqa: BLE001
        raise InvalidImageError(CORRUPT_MESSAGE) from e
    return rgb
