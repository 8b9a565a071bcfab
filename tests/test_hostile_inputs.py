"""Everything a stranger might upload or send, and what the app's entry points make of it.

``load_photo`` must turn every readable image into upright uint8 RGB (H, W, 3) no larger than MAX_SIDE and
refuse everything else with an InvalidImageError whose message a user can act on; decompression bombs
must be refused from the header alone, without decoding a pixel. The digit
preprocessing and the classifiers must answer odd arrays with a result or a clear ValueError.

Images are built in the test (Pillow, or PNG chunks written by hand where Pillow cannot write the file),
so each case states exactly what the file contains.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from models.preprocessing import NEUTRAL_GREY, digit_from_photo, preprocess_drawing
from tests.conftest import DIGIT_CHECKPOINTS, ROOT
from uploads import MAX_PIXELS, MAX_SIDE, MAX_UPLOAD_BYTES, InvalidImageError, load_photo

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
CORRUPT = "truncated or corrupt"


# --- helpers ------------------------------------------------------------------------------------------
def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def handmade_png(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its parts: IHDR as given, one IDAT holding ``idat`` (already zlib-compressed), IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png16(pixels: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG of uint16 (H, W, C) pixels, big-endian as PNG stores them (filter 0 on every row)."""
    h, w, _ = pixels.shape
    rows = [b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h)]
    return handmade_png(w, h, 16, colour_type, zlib.compress(b"".join(rows)))


def refusal(data: object, **kwargs) -> str:
    """The message load_photo refuses ``data`` with (fails the test if it is accepted)."""
    with pytest.raises(InvalidImageError) as info:
        load_photo(data, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.endswith(".") and len(message) < 200, f"not a message for a user: {message!r}"
    return message


def assert_colour(pixel: np.ndarray, expected: tuple[int, int, int], tol: int = 0) -> None:
    diff = np.abs(pixel.astype(int) - np.array(expected)).max()
    assert diff <= tol, f"pixel {pixel.tolist()} is not {expected} (+-{tol})"


def quadrants(width: int = 64, height: int = 32) -> Image.Image:
    """A width x height picture: top-left red, top-right green, bottom-left blue, bottom-right white."""
    a = np.zeros((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    a[:h2, :w2], a[:h2, w2:], a[h2:, :w2], a[h2:, w2:] = RED, GREEN, BLUE, WHITE
    return Image.fromarray(a)


def quadrant_colours(rgb: np.ndarray) -> list[list[int]]:
    """Colours at the centres of the four quadrants: [top-left, top-right, bottom-left, bottom-right]."""
    h, w, _ = rgb.shape
    return [rgb[y, x].tolist() for y in (h // 4, 3 * h // 4) for x in (w // 4, 3 * w // 4)]


def peak_rss_mb(path: Path) -> float:
    """Peak RSS growth (MB) of a fresh interpreter decoding ``path`` itself (``load_photo(sandbox=False)``,
    the decoding the app's worker processes run), over its own baseline.

    A child process is the only honest measure: Pillow allocates pixels in C, out of tracemalloc's sight,
    and this process's peak RSS already holds whatever earlier tests used. The child prints its peak
    RSS before and after the call (ru_maxrss is a high-water mark, so the difference is the call's peak).
    The worker's own budget is tested in test_bounded_decoding.py.
    """
    code = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from uploads import InvalidImageError, load_photo
        data = open({str(path)!r}, "rb").read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_photo(data, sandbox=False)
        except InvalidImageError:
            pass
        print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    before_kb, after_kb = map(int, out.stdout.split())
    return (after_kb - before_kb) / 1024


# --- not an image -------------------------------------------------------------------------------------
def test_zero_bytes_refused():
    assert "empty" in refusal(b"")


@pytest.mark.parametrize("value", ["photo.jpg", None, 42, np.zeros((4, 4, 3), np.uint8)])
def test_non_bytes_refused(value):
    assert "bytes" in refusal(value)


def test_oversized_upload_refused_before_decoding():
    data = b"\xff\xd8\xff" + b"\0" * MAX_UPLOAD_BYTES
    assert f"{MAX_UPLOAD_BYTES // 2**20} MB" in refusal(data)


def test_text_renamed_jpg_refused():
    text = "Dear user,\nthis is a shopping list saved as photo.jpg: milk, eggs, café au lait.\n" * 20
    assert "text" in refusal(text.encode())


@pytest.mark.parametrize(
    "html",
    [b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>", b"  \n<html><p>hi</p></html>"],
)
def test_html_renamed_jpg_refused(html):
    message = refusal(html)
    assert "HTML" in message and "JPEG" in message


def test_random_binary_refused():
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert "not an image" in refusal(data)


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
)
def test_svg_refused_clearly(svg):
    message = refusal(svg)
    assert "SVG" in message and "JPEG" in message


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1", b"avif"])
def test_heic_refused_clearly(brand):
    # An ISO-BMFF file starts with an 'ftyp' box: size, b"ftyp", major brand, minor version, compatible brands.
    data = struct.pack(">I", 24) + b"ftyp" + brand + b"\0\0\0\0" + b"mif1heic" + b"\0" * 200
    message = refusal(data)
    assert "HEIC" in message and "JPEG" in message


def test_unsupported_raster_format_refused():
    """TIFF decodes fine in Pillow but is not on the list: the TIFF parser never sees the upload."""
    message = refusal(encode(Image.new("RGB", (8, 8), RED), "TIFF"))
    assert "JPEG, PNG" in message


# --- broken images ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    rng = np.random.default_rng(1)
    return encode(Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)), "JPEG", quality=90)


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5, 0.9])
def test_truncated_jpeg_refused(photo_jpeg, fraction):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES, "something switched on Pillow's truncated-image leniency"
    assert CORRUPT in refusal(photo_jpeg[: int(len(photo_jpeg) * fraction)])


@pytest.fixture(scope="module")
def photo_png() -> bytes:
    rng = np.random.default_rng(2)
    return encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG")


def test_corrupt_png_bad_crc_refused(photo_png):
    data = bytearray(photo_png)
    data[len(data) // 2] ^= 0xFF  # inside the IDAT: its CRC no longer matches
    assert CORRUPT in refusal(bytes(data))


def test_corrupt_png_garbage_compressed_data_refused():
    # Valid chunks and CRCs, but the IDAT is not a zlib stream.
    garbage = np.random.default_rng(3).integers(0, 256, 500, dtype=np.uint8).tobytes()
    assert CORRUPT in refusal(handmade_png(16, 16, 8, 2, garbage))


def test_truncated_png_refused(photo_png):
    assert CORRUPT in refusal(photo_png[: len(photo_png) // 2])


def test_png_with_mangled_header_refused(photo_png):
    data = bytearray(photo_png)
    data[12:16] = b"JUNK"  # the IHDR chunk's type
    assert CORRUPT in refusal(bytes(data))


# --- decompression bombs ------------------------------------------------------------------------------
def bomb_png_1bit(side: int = 30_000) -> bytes:
    """A real 30000 x 30000 black 1-bit PNG: ~110 kB on disk, 900 megapixels (2.7 GB as RGB) decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)  # filter byte + packed bits
    idat = compressor.compress(row * side) + compressor.flush()
    return handmade_png(side, side, 1, 0, idat)


def bomb_jpeg() -> bytes:
    data = bytearray(encode(Image.new("RGB", (8, 8), RED), "JPEG"))
    sof = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    return bytes(data)


def bomb_gif() -> bytes:
    data = bytearray(encode(Image.new("P", (8, 8)), "GIF"))
    data[6:10] = struct.pack("<HH", 65_535, 65_535)  # logical screen width, height
    return bytes(data)


def bomb_bmp() -> bytes:
    data = bytearray(encode(Image.new("RGB", (8, 8)), "BMP"))
    data[18:26] = struct.pack("<ii", 50_000, 50_000)
    return bytes(data)


def just_over_our_limit_png() -> bytes:
    """Over MAX_PIXELS but under Pillow's own bomb threshold: our check, not Pillow's, must refuse it."""
    side = int(MAX_PIXELS**0.5) + 100
    assert side * side < Image.MAX_IMAGE_PIXELS
    return handmade_png(side, side, 8, 2, zlib.compress(b"\0" * 64))


BOMBS = {
    "png-1bit-30000x30000": bomb_png_1bit,
    "png-tiny-idat-30000x30000": lambda: handmade_png(30_000, 30_000, 8, 6, zlib.compress(b"\0" * 64)),
    "png-just-over-limit": just_over_our_limit_png,
    "jpeg-65000x65000": bomb_jpeg,
    "gif-65535x65535": bomb_gif,
    "bmp-50000x50000": bomb_bmp,
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decompression_bomb_refused_without_decoding(name, monkeypatch):
    data = BOMBS[name]()
    assert len(data) < 200_000
    decoded: list[str] = []
    real_load = ImageFile.ImageFile.load

    def spy_load(self):
        decoded.append(self.format)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy_load)
    message = refusal(data, sandbox=False)  # in this process, where the spy sees it (the worker runs the same)
    assert decoded == [], "the bomb's pixels were decoded"
    assert refusal(data) == message
    assert "megapixels" in message


def test_decompression_bomb_memory_stays_small(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png_1bit())
    grown = peak_rss_mb(path)
    assert grown < 30, f"refusing the bomb grew peak RSS by {grown:.0f} MB"


# --- large but legitimate -----------------------------------------------------------------------------
def big_gradient(width: int = 6000, height: int = 4000) -> Image.Image:
    """A smooth 6000 x 4000 photo-like image (compresses well, so the file stays under the upload limit)."""
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    r, g = np.broadcast_to(y, (height, width)), np.broadcast_to(x, (height, width))
    b = np.full((height, width), 90, np.float32)
    return Image.fromarray(np.stack([r, g, b], axis=2).astype(np.uint8))


@pytest.fixture(scope="module")
def big_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big")
    im = big_gradient()
    paths = {"jpeg": folder / "big.jpg", "png": folder / "big.png"}
    im.save(paths["jpeg"], quality=90)
    im.save(paths["png"])
    return paths


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_large_photo_downscaled(big_files, fmt):
    rgb = load_photo(big_files[fmt].read_bytes())
    assert rgb.dtype == np.uint8 and rgb.shape == (round(MAX_SIDE * 4000 / 6000), MAX_SIDE, 3)
    # Downscaled, not cropped: corners keep the gradient's colours (top-left dark, bottom-right bright).
    assert_colour(rgb[0, 0], (0, 0, 90), tol=6)
    assert_colour(rgb[-1, -1], (255, 255, 90), tol=6)


@pytest.mark.parametrize(("fmt", "limit_mb"), [("jpeg", 72), ("png", 150)])
def test_large_photo_memory_bounded(big_files, fmt, limit_mb):
    """6000 x 4000 RGB is 72 MB of pixels. A JPEG is decoded at reduced scale, so even one full-size copy
    is too much; a PNG must be decoded whole, but reduced at once: at most about two copies' worth."""
    grown = peak_rss_mb(big_files[fmt])
    assert grown < limit_mb, f"loading a 6000 x 4000 {fmt} grew peak RSS by {grown:.0f} MB"


# --- odd but valid images -----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
@pytest.mark.parametrize("colours", [(RED, GREEN, BLUE), (BLUE, RED, GREEN)])
def test_animation_gives_first_frame(fmt, colours):
    frames = [Image.new("RGB", (16, 12), c) for c in colours]
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **kwargs)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3  # really animated
    rgb = load_photo(data)
    assert rgb.shape == (12, 16, 3)
    assert_colour(rgb[6, 8], colours[0], tol=2)


def test_cmyk_jpeg_converted():
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)  # pure red ink mix
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    rgb = load_photo(data)
    assert rgb.shape == (32, 32, 3)
    assert_colour(rgb[16, 16], RED, tol=8)


def test_16bit_greyscale_png_scaled_not_clipped():
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    rgb = load_photo(data)
    assert rgb.shape == (1, 4, 3)
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (rgb == rgb[:, :, :1]).all()  # grey stays grey


def test_16bit_rgb_png():
    pixels = np.zeros((4, 4, 3), np.uint16)
    pixels[:] = (65535, 0, 32896)
    rgb = load_photo(png16(pixels, colour_type=2))
    assert rgb.shape == (4, 4, 3)
    assert_colour(rgb[2, 2], (255, 0, 128), tol=1)


def test_16bit_rgba_png_transparency_composited():
    pixels = np.zeros((2, 2, 4), np.uint16)
    pixels[0] = (65535, 0, 0, 65535)  # opaque red
    pixels[1] = (65535, 0, 0, 0)  # fully transparent red
    rgb = load_photo(png16(pixels, colour_type=6))
    assert_colour(rgb[0, 0], RED, tol=1)
    assert_colour(rgb[1, 0], NEUTRAL_GREY, tol=1)


def palette_image(transparent_index: int | None) -> bytes:
    im = Image.new("P", (4, 2))
    im.putpalette([*RED, *GREEN, *BLUE, *WHITE] + [0] * (256 - 4) * 3)
    im.putdata([0, 1, 2, 3, 0, 0, 3, 3])
    kwargs = {} if transparent_index is None else {"transparency": transparent_index}
    return encode(im, "PNG", **kwargs)


def test_palette_png_without_transparency():
    data = palette_image(None)
    assert Image.open(io.BytesIO(data)).mode == "P"
    rgb = load_photo(data)
    assert rgb[0].tolist() == [list(RED), list(GREEN), list(BLUE), list(WHITE)]


def test_palette_png_with_transparency_composited_on_grey():
    data = palette_image(transparent_index=0)  # red is the transparent entry
    assert "transparency" in Image.open(io.BytesIO(data)).info
    rgb = load_photo(data)
    assert rgb[0].tolist() == [list(NEUTRAL_GREY), list(GREEN), list(BLUE), list(WHITE)]
    assert rgb[1, 0].tolist() == list(NEUTRAL_GREY)


def test_palette_gif_with_transparency():
    im = Image.new("P", (2, 1))
    im.putpalette([*RED, *BLUE] + [0] * 254 * 3)
    im.putdata([0, 1])
    rgb = load_photo(encode(im, "GIF", transparency=1))
    assert rgb[0].tolist() == [list(RED), list(NEUTRAL_GREY)]


def test_rgba_transparency_composited_on_neutral_grey():
    a = np.zeros((1, 4, 4), np.uint8)
    a[0, 0] = (255, 0, 0, 0)  # invisible red
    a[0, 1] = (255, 255, 255, 255)  # opaque white
    a[0, 2] = (255, 255, 255, 128)  # half-transparent white
    a[0, 3] = (0, 0, 255, 255)  # opaque blue
    data = encode(Image.fromarray(a, "RGBA"), "PNG")
    rgb = load_photo(data)
    grey = NEUTRAL_GREY[0]
    half = round(255 * 128 / 255 + grey * (1 - 128 / 255))
    assert rgb[0].tolist() == [list(NEUTRAL_GREY), list(WHITE), [half] * 3, list(BLUE)]
    # The background is a parameter: the digit tab may want white paper.
    assert load_photo(data, background=WHITE)[0, 0].tolist() == list(WHITE)


def test_greyscale_with_alpha_png():
    a = np.array([[[200, 255], [200, 0]]], np.uint8)  # (1, 2, 2): L, A
    rgb = load_photo(encode(Image.fromarray(a, "LA"), "PNG"))
    assert rgb[0].tolist() == [[200, 200, 200], list(NEUTRAL_GREY)]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF"])
def test_greyscale_repeated_to_rgb(fmt):
    a = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # (8, 64) ramp
    rgb = load_photo(encode(Image.fromarray(a, "L"), fmt))
    assert rgb.shape == (8, 64, 3)
    assert (rgb == rgb[:, :, :1]).all()
    assert np.abs(rgb[:, :, 0].astype(int) - a).max() <= (3 if fmt == "JPEG" else 0)


@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_one_bit_image(fmt):
    im = Image.new("1", (8, 2), 0)
    im.putpixel((3, 1), 1)
    rgb = load_photo(encode(im, fmt))
    assert rgb.shape == (2, 8, 3)
    assert rgb[1, 3].tolist() == list(WHITE) and rgb[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_one_by_one_image(fmt):
    rgb = load_photo(
        encode(Image.new("RGB", (1, 1), (10, 200, 30)), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    )
    assert rgb.shape == (1, 1, 3) and rgb.dtype == np.uint8
    if fmt in ("PNG", "BMP", "WEBP"):
        assert rgb[0, 0].tolist() == [10, 200, 30]


# --- EXIF orientation ---------------------------------------------------------------------------------
def with_orientation(im: Image.Image, orientation: int, fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return encode(im, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))


# Stored: top-left red, top-right green, bottom-left blue, bottom-right white, 64 wide x 32 high.
# Orientation 6 means "rotate 90 degrees clockwise to view", 8 "counter-clockwise", 3 "180 degrees".
UPRIGHT = {
    6: [BLUE, RED, WHITE, GREEN],
    8: [GREEN, WHITE, RED, BLUE],
    3: [WHITE, BLUE, GREEN, RED],
    1: [RED, GREEN, BLUE, WHITE],
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_rotated_photo_comes_out_upright(fmt, orientation):
    rgb = load_photo(with_orientation(quadrants(), orientation, fmt))
    assert rgb.shape == ((64, 32, 3) if orientation in (6, 8) else (32, 64, 3))
    for got, expected in zip(quadrant_colours(rgb), UPRIGHT[orientation]):
        assert_colour(np.array(got), expected, tol=12)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation):
    data = with_orientation(quadrants(), orientation, "PNG")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(load_photo(data), expected)


def test_big_exif_rotated_jpeg_downscaled_and_upright():
    im = quadrants(4000, 2000)
    rgb = load_photo(with_orientation(im, 6, "JPEG"))
    assert rgb.shape == (MAX_SIDE, MAX_SIDE // 2, 3)
    for got, expected in zip(quadrant_colours(rgb), UPRIGHT[6]):
        assert_colour(np.array(got), expected, tol=12)


def test_broken_exif_does_not_lose_the_photo():
    data = bytearray(with_orientation(quadrants(), 6, "JPEG"))
    start = data.index(b"Exif\0\0") + 6  # the TIFF header of the EXIF block
    data[start : start + 8] = b"XX\0\0\0\0\0\0"  # neither byte order: unreadable
    rgb = load_photo(bytes(data))
    assert rgb.shape == (32, 64, 3)  # shown as stored
    assert_colour(np.array(quadrant_colours(rgb)[0]), RED, tol=12)


# --- digits: canvas arrays ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "canvas",
    [
        np.zeros(100, np.uint8),  # 1-D
        np.zeros((4, 10, 10, 4), np.uint8),  # a batch, not a canvas
        np.zeros((10, 10, 2), np.uint8),  # 2 channels
        np.zeros((10, 10, 5), np.uint8),  # 5 channels
        np.zeros((0, 10, 4), np.uint8),  # no rows
        np.zeros((10, 0), np.uint8),  # no columns
        np.zeros((), np.uint8),  # a scalar
    ],
    ids=["1d", "4d", "2ch", "5ch", "no-rows", "no-cols", "scalar"],
)
def test_canvas_of_wrong_shape_refused(canvas):
    with pytest.raises(ValueError, match="shape"):
        preprocess_drawing(canvas)


@pytest.mark.parametrize(
    "canvas",
    [
        np.full((8, 8, 4), "ink", dtype=object),
        np.full((8, 8), "x", dtype="<U1"),
        np.zeros((8, 8), dtype="datetime64[s]"),
    ],
    ids=["object", "str", "datetime"],
)
def test_canvas_of_non_numeric_dtype_refused(canvas):
    with pytest.raises(ValueError, match="dtype"):
        preprocess_drawing(canvas)


def stroke_canvas(dtype: type, value: float, channels: int = 4) -> np.ndarray:
    """A vertical bar of ink on an empty canvas, in the given dtype and ink value."""
    canvas = np.zeros((100, 100, channels), dtype)
    canvas[20:80, 45:55, :] = value
    return canvas


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_canvas_in_0_1_gives_the_same_digit_as_uint8(dtype):
    reference = preprocess_drawing(stroke_canvas(np.uint8, 255))
    digit = preprocess_drawing(stroke_canvas(dtype, 1.0))
    assert digit is not None and digit.dtype == np.uint8 and digit.shape == (28, 28)
    assert np.array_equal(digit, reference)


@pytest.mark.parametrize(
    ("dtype", "value", "message"),
    [(np.uint16, 255, "dtype uint16"), (np.int64, 255, "dtype int64"), (bool, True, "dtype bool"),
     (np.float64, 255.0, "floating-point images are 0..1"), (np.float32, -0.5, "floating-point images are 0..1")],
)
def test_canvas_outside_the_input_contract_refused(dtype, value, message):
    with pytest.raises(ValueError, match=message):
        preprocess_drawing(stroke_canvas(dtype, value))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_canvas_with_nan_or_inf_refused(bad):
    canvas = stroke_canvas(np.float32, 1.0)
    canvas[0, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        preprocess_drawing(canvas)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_canvas_channel_layouts(channels):
    digit = preprocess_drawing(stroke_canvas(np.uint8, 255, channels))
    assert digit is not None and digit.shape == (28, 28)


def test_empty_and_fully_transparent_canvases_give_none():
    assert preprocess_drawing(np.zeros((50, 50, 4), np.uint8)) is None
    white_but_transparent = np.zeros((50, 50, 4), np.uint8)
    white_but_transparent[..., :3] = 255  # alpha stays 0: nothing was drawn
    assert preprocess_drawing(white_but_transparent) is None


def test_all_ink_canvas_gives_a_centred_full_box(digit_classifiers):
    """A canvas painted over completely is one big square of ink: the MNIST recipe makes it a 20x20 block
    in the middle of the 28x28 field. Every model must still return a probability distribution."""
    canvas = np.full((280, 280, 4), 255, np.uint8)
    digit = preprocess_drawing(canvas)
    assert digit is not None
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (4, 23, 4, 23)
    assert (digit[4:24, 4:24] == 255).all()
    for name, model in digit_classifiers.items():
        p = model.predict_proba(digit)
        assert p.shape == (1, 10) and np.isfinite(p).all() and abs(p.sum() - 1) < 1e-5, name


@pytest.mark.parametrize("shape", [(1, 1, 4), (1, 500, 4), (500, 1, 4)])
def test_degenerate_canvas_sizes(shape):
    canvas = np.full(shape, 255, np.uint8)
    digit = preprocess_drawing(canvas)
    assert digit is not None and digit.shape == (28, 28) and digit.max() > 0


# --- digits: uploaded pictures in odd modes -----------------------------------------------------------
@pytest.fixture(scope="module")
def paper_digits(digit_sample) -> list[tuple[int, np.ndarray]]:
    """Ten MNIST digits (one per class) as 'photos': dark ink on white paper, 8x upscaled, with a margin."""
    images, labels = digit_sample
    out = []
    for d in range(10):
        img = images[np.flatnonzero(labels == d)[0]]
        big = np.asarray(Image.fromarray(255 - img).resize((224, 224), Image.BILINEAR))
        out.append((d, np.pad(big, 40, constant_values=255)))
    return out


def odd_modes(grey: np.ndarray) -> dict[str, bytes]:
    """One uploaded file per odd format or mode, all showing the same dark-on-light digit."""
    im = Image.fromarray(grey, "L")
    rgb = im.convert("RGB")
    alpha = Image.fromarray(255 - grey, "L")  # ink opaque, paper fully transparent
    ink_on_transparent = Image.merge("RGBA", (*Image.new("RGB", im.size, (0, 0, 0)).split(), alpha))
    rotated = rgb.transpose(Image.Transpose.ROTATE_90)  # stored sideways; EXIF 6 turns it back
    return {
        "grey-png": encode(im, "PNG"),
        "rgb-jpeg": encode(rgb, "JPEG", quality=85),
        "cmyk-jpeg": encode(rgb.convert("CMYK"), "JPEG", quality=90),
        "palette-png": encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG"),
        "1bit-bmp": encode(im.point(lambda v: 255 if v > 128 else 0).convert("1"), "BMP"),
        "16bit-png": encode(Image.fromarray(grey.astype(np.uint16) * 257), "PNG"),
        "ink-on-transparent-png": encode(ink_on_transparent, "PNG"),
        "exif-rotated-jpeg": with_orientation(rotated, 6, "JPEG"),
        "gif": encode(im, "GIF"),
    }


@pytest.mark.slow
def test_uploaded_digits_in_odd_modes_read_like_the_clean_picture(paper_digits, digit_classifiers):
    cnn = digit_classifiers["digit_cnn"]
    for label, grey in paper_digits:
        reference = digit_from_photo(np.repeat(grey[:, :, None], 3, axis=2))
        assert reference is not None
        expected = int(cnn.predict(reference)[0])
        assert expected == label, f"the clean picture of {label} reads as {expected}"
        for mode, data in odd_modes(grey).items():
            digit = digit_from_photo(load_photo(data))
            assert digit is not None and digit.shape == (28, 28) and digit.dtype == np.uint8, mode
            # Centring rounds the centre of mass to a whole pixel, so a little change in the ink (a 16-colour
            # palette, JPEG noise) may move the digit by one pixel: compare at the best of the 1-pixel shifts.
            corr = max(np.corrcoef(np.roll(digit, (dy, dx), (0, 1)).ravel().astype(float),
                                   reference.ravel().astype(float))[0, 1] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
            assert corr > 0.8, f"{mode}: digit {label} differs from the clean picture (correlation {corr:.2f})"
            assert int(cnn.predict(digit)[0]) == label, f"{mode}: digit {label} misread"


def test_blank_uploaded_picture_gives_none():
    for colour in ((255, 255, 255), (0, 0, 0), (120, 130, 140)):
        assert digit_from_photo(load_photo(encode(Image.new("RGB", (64, 64), colour), "PNG"))) is None


# --- the pet classifier on odd arrays -----------------------------------------------------------------
def odd_photos() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    return {
        "grey-2d": rgb[:, :, 0],
        "grey-1ch": rgb[:, :, :1],
        "rgba": np.concatenate([rgb, rng.integers(0, 256, (120, 160, 1), dtype=np.uint8)], axis=2),
        "1x1": rgb[:1, :1],
        "very-wide": rng.integers(0, 256, (3, 4000, 3), dtype=np.uint8),
        "very-tall": rng.integers(0, 256, (4000, 2, 3), dtype=np.uint8),
        "float-0-1": rgb.astype(np.float32) / 255,
        "non-contiguous": rgb[::2, ::-3],
    }


@pytest.mark.parametrize("kind", sorted(odd_photos()))
def test_pet_classifier_on_odd_arrays(pet_classifier, kind):
    image = odd_photos()[kind]
    p = pet_classifier.predict_proba([image])
    assert p.shape == (1, len(pet_classifier.class_names))
    assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-6
    cam = pet_classifier.gradcam(image)
    assert cam.shape == image.shape[:2] and np.isfinite(cam).all() and cam.min() >= 0 and cam.max() <= 1


def test_pet_classifier_grey_equals_repeated_rgb(pet_classifier):
    grey = np.random.default_rng(5).integers(0, 256, (90, 70), dtype=np.uint8)
    np.testing.assert_allclose(
        pet_classifier.predict_proba([grey]), pet_classifier.predict_proba([np.repeat(grey[:, :, None], 3, axis=2)])
    )


@pytest.mark.parametrize(
    "images",
    [[], np.zeros((10, 10, 2), np.uint8), [np.zeros((0, 5, 3), np.uint8)], "photo.jpg", [np.full((4, 4), "x")],
     [np.ones((4, 4, 3), bool)], [np.full((4, 4, 3), 255.0)], [np.full((4, 4, 3), np.nan)]],
    ids=["empty-list", "2-channels", "no-pixels", "a-string", "strings", "bool", "float-0-255", "nan"],
)
def test_pet_classifier_refuses_non_images(pet_classifier, images):
    with pytest.raises(ValueError):
        pet_classifier.predict_proba(images)


@pytest.mark.parametrize("path", sorted(DIGIT_CHECKPOINTS))
def test_digit_classifiers_refuse_wrong_shapes(digit_classifiers, path):
    model = digit_classifiers[path]
    for bad in (np.zeros((27, 28)), np.zeros((2, 28, 28, 1)), np.zeros(784), np.full((28, 28), "x")):
        with pytest.raises(ValueError):
            model.predict_proba(bad)


def test_uploaded_photo_through_pet_classifier(pet_classifier):
    """The app's photo path end to end on a hostile-but-valid upload: EXIF-rotated CMYK JPEG."""
    data = with_orientation(quadrants(320, 160).convert("CMYK"), 8, "JPEG")
    rgb = load_photo(data)
    assert rgb.shape == (320, 160, 3)
    p = pet_classifier.predict_proba([rgb])
    assert p.shape == (1, 2) and abs(p.sum() - 1) < 1e-6


def test_environment_has_no_decoder_leniency():
    """Guards the assumptions above: Pillow's bomb limit is at or above ours, truncated images are errors."""
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS >= MAX_PIXELS
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
