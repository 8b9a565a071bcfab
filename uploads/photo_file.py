"""Uploaded photo files -> uint8 RGB photos: ``load_photo`` is the one entry point for bytes from outside.

It refuses anything unsafe or unreadable with an ``InvalidImageError`` whose message can be shown to a
user, honours EXIF orientation and converts every colour mode. Nothing a visitor sends can take the server
down: ``load_photo`` decodes in a worker process with a hard budget of CPU time and memory
(``uploads.pool``), after structural checks that refuse absurd files cheaply (``uploads.structure``).
``decode_photo`` is the same decoding in the calling process, for trusted files (training decodes tens of
thousands in its own process pool), and what the worker runs: the same bytes give the same array either way.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from models.preprocessing.photo import NEUTRAL_GREY, to_rgb
from uploads.limits import (
    ALLOWED_FORMATS,
    CORRUPT_MESSAGE,
    MAX_PIXELS,
    MAX_SIDE,
    MAX_UPLOAD_BYTES,
    InvalidImageError,
    decode_budget,
)
from uploads.pool import default_pool
from uploads.structure import Header, StructureError, check_structure

# Peak memory while decoding, in bytes per pixel of the file's full size (measured, plus some slack):
# Pillow holds 4 bytes a pixel for RGB(A), and reducing an RGBA image makes a premultiplied copy; a palette
# image converted for its transparency or a 16-bit one converted to 8 bits also needs about 8. libwebp's
# buffers and Pillow's copies of its canvas take up to 16. A progressive JPEG keeps 2 bytes for every colour
# sample until its last scan (MEMORY_PER_JPEG_SAMPLE); a baseline JPEG is decoded at 1/2 to 1/8 scale and
# needs little. An image whose estimate exceeds the memory budget is refused from its header, before
# anything is decoded (with the default 500 MB: 52 megapixels for PNG, GIF and BMP, 26 for WebP).
MEMORY_PER_PIXEL = {"PNG": 9, "GIF": 9, "BMP": 9, "WEBP": 18, "JPEG": 1}
MEMORY_PER_JPEG_SAMPLE = 2.2
USABLE_BUDGET = 0.9  # of the memory budget, for the pixels: the rest is the worker's own size and slack
MAX_EXIF_BYTES = 256 * 2**10  # JPEG's Exif fits in 64 KB; a bigger block (PNG, WebP) is ignored, not parsed
# First bytes of the accepted formats, to tell a broken image from a file that is no image at all.
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"RIFF")


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


def check_upload(data: Any) -> bytes:
    """The cheap checks on anything uploaded, before any parsing: bytes, not empty, at most
    MAX_UPLOAD_BYTES, and not a kind of file we know we do not take (SVG, HEIC, HTML). Returns the bytes."""
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
    return data


def _too_big(width: int, height: int, detail: str = "") -> InvalidImageError:
    return InvalidImageError(f"The image is {width} x {height} pixels, larger than the {detail}megapixels we accept.")


def check_size(header: Header, budget_mb: float) -> None:
    """Refuse, from the header alone, an image over MAX_PIXELS or too big to decode in ``budget_mb``."""
    width, height = header.width, header.height
    if width < 1 or height < 1:
        raise InvalidImageError("The image has no pixels.")
    if width * height > MAX_PIXELS:
        raise _too_big(width, height, f"{MAX_PIXELS // 1_000_000} ")
    per_pixel = MEMORY_PER_PIXEL.get(header.format, max(MEMORY_PER_PIXEL.values()))
    if header.progressive:  # all the coefficients stay in memory until the last scan
        per_pixel = MEMORY_PER_JPEG_SAMPLE * header.samples_per_pixel
    limit = USABLE_BUDGET * budget_mb * 2**20 / per_pixel
    if width * height > limit:
        raise _too_big(width, height, f"{limit / 1e6:.0f} " if limit < MAX_PIXELS else "")


def _jpeg_draft_size(width: int, height: int) -> tuple[int, int]:
    """The size to ask libjpeg for so that it decodes at the smallest of 1/2, 1/4, 1/8 scale that keeps the
    longer side at least MAX_SIDE. (Pillow picks the scale from the smaller of the two ratios, so asking for
    (MAX_SIDE, MAX_SIDE) would decode a 65500 x 915 panorama at full size.)"""
    scale = next((s for s in (8, 4, 2) if max(width, height) // s >= MAX_SIDE), 1)
    return max(1, width // scale), max(1, height // scale)


def _open(data: bytes, budget_mb: float) -> Image.Image:
    """Structural checks, the size check from the header, then Pillow's parser (which reads headers only)."""
    try:
        header = check_structure(data)
    except StructureError as e:
        raise InvalidImageError(str(e)) from e
    if header is not None:  # WebP allocates its whole canvas when opened: check before Pillow sees it
        check_size(header, budget_mb)
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except MemoryError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own header check, above ours
        raise InvalidImageError(f"The image is larger than the {MAX_PIXELS // 1_000_000} megapixels we accept.") from e
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
    # Pillow's idea of the size is the one it decodes: check that too (a GIF frame may enlarge its screen).
    check_size(replace(header, width=im.width, height=im.height) if header else Header(str(im.format), *im.size),
               budget_mb)
    return im


def decode_photo(
    data: Any, background: tuple[int, int, int] = NEUTRAL_GREY, budget_mb: float | None = None
) -> np.ndarray:
    """``load_photo`` in the calling process, without the worker's CPU and memory limits: for trusted files.

    ``budget_mb`` (default: the decoding budget, PLAYGROUND_DECODE_MB) only sets the size check, so that a
    file refused in the app is refused in training too.
    """
    data = check_upload(data)
    im = _open(data, decode_budget().megabytes if budget_mb is None else budget_mb)
    try:
        im.seek(0)  # animated GIF/PNG/WebP: the first frame
        if im.format in ("JPEG", "MPO"):
            im.draft("RGB", _jpeg_draft_size(*im.size))  # decode big JPEGs at 1/2..1/8 scale: bounded memory
        im.load()
        try:  # upright, by the EXIF orientation (JPEGs are already reduced by draft() here)
            exif = im.info.get("exif") or im.info.get("Raw profile type exif") or b""  # PNG keeps it as hex text
            if len(exif) <= MAX_EXIF_BYTES:  # Pillow parses it in Python
                ImageOps.exif_transpose(im, in_place=True)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - a broken EXIF block should not cost the user the photo
            pass
        im = _to_rgb_rgba_or_l(im)
        factor = max(im.size) // MAX_SIDE
        if factor >= 2:  # box-reduce at once, dropping the full-size pixels before any further copy
            im = im.reduce(factor)
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        return to_rgb(np.asarray(im), background=background)
    except MemoryError:
        raise  # the worker reports it as over budget; in-process callers see it for what it is
    except Exception as e:  # noqa: BLE001
        raise InvalidImageError(CORRUPT_MESSAGE) from e


def load_photo(data: Any, background: tuple[int, int, int] = NEUTRAL_GREY, *, sandbox: bool = True) -> np.ndarray:
    """Uploaded file bytes -> uint8 RGB (H, W, 3), upright, at most MAX_SIDE on its longer side.

    Accepts JPEG, PNG, WebP, BMP and GIF (first frame of animations). Honours EXIF orientation, converts
    CMYK, palette, 16-bit and greyscale images, and composites transparency on ``background``. Refuses,
    with an InvalidImageError fit to show a user: anything that is not bytes, empty or oversized files,
    text/HTML/SVG, HEIC/AVIF, truncated or corrupt data, files whose structure no real image has, images
    over MAX_PIXELS or too big for the memory budget (checked from the header, before anything is
    decoded), and any file that takes more than the budget's CPU time or memory to decode.

    With ``sandbox`` (the default) the decoding runs in a worker process under that budget (see
    ``uploads.pool``); ``sandbox=False`` decodes in this process (``decode_photo``).
    """
    data = check_upload(data)
    if not sandbox:
        return decode_photo(data, background)
    pool = default_pool()
    return pool.run(decode_photo, data, background, pool.budget.megabytes)

