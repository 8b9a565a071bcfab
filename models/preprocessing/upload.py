"""Uploaded files -> uint8 RGB photos: ``load_photo`` is the one entry point for bytes from outside.

It refuses anything unsafe or unreadable with an ``InvalidImageError`` whose message can be shown to a
user, honours EXIF orientation, converts every colour mode and bounds memory for large photos. Training,
evaluation and the app all decode through it, so a photo is the same array everywhere.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from models.preprocessing.photo import NEUTRAL_GREY, to_rgb

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 60_000_000  # above any phone camera; refuse before decoding (decompression bombs)
MAX_SIDE = 1600  # photos are downscaled to at most this side after decoding
# Decoders Image.open may use. Only registered opener names belong here: an unknown name makes Pillow raise
# KeyError for every file tried after it. Multi-picture JPEGs (MPO) open through the JPEG opener.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "gif")  # file names of those formats, for upload widgets
CORRUPT_MESSAGE = "The image file is truncated or corrupt and could not be decoded."
# First bytes of the accepted formats, to tell a broken image from a file that is no image at all.
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"RIFF")


class InvalidImageError(ValueError):
    """An uploaded file is not an image we can use; the message is written for the user."""


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
        try:  # upright, by the EXIF orientation (JPEGs are already reduced by draft() here)
            ImageOps.exif_transpose(im, in_place=True)
        except Exception:  # noqa: BLE001 - a broken EXIF block should not cost the user the photo
            pass
        im = _to_rgb_rgba_or_l(im)
        factor = max(im.size) // MAX_SIDE
        if factor >= 2:  # box-reduce at once, dropping the full-size pixels before any further copy
            im = im.reduce(factor)
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        rgb = to_rgb(np.asarray(im), background=background)
    except Exception as e:  # noqa: BLE001
        raise InvalidImageError(CORRUPT_MESSAGE) from e
    return rgb
