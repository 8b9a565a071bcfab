"""Property tests: on any input, the preprocessing entry points give only their documented outcomes.

- ``preprocess_drawing(array)``: a uint8 (28, 28) digit, None (no ink), or ValueError for an array outside
  the input contract (image shape; uint8, or floats in [0, 1]). Nothing else.
- ``load_photo(bytes)``: uint8 RGB (H, W, 3) with 1 <= H, W <= MAX_SIDE, or InvalidImageError. Nothing else.

Inputs are random arrays of random shapes and dtypes, random bytes, and random valid images encoded in
every accepted format and then truncated or corrupted at random places.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from models.preprocessing import digit_from_photo, drawing_steps, preprocess_drawing
from uploads import MAX_SIDE, InvalidImageError, load_photo

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- arrays -------------------------------------------------------------------------------------------
DTYPES = st.sampled_from(
    [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_]
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Any numeric array up to 4-D; float arrays include NaN, infinities and huge values."""
    dtype = np.dtype(draw(DTYPES))
    shape = draw(st.one_of(SHAPES, st.tuples(st.integers(1, 60), st.integers(1, 60), st.sampled_from([1, 3, 4]))))
    return draw(hnp.arrays(dtype, shape))


@st.composite
def valid_images(draw: st.DrawFn) -> np.ndarray:
    """Arrays inside the input contract: image shapes, uint8 or floats in [0, 1]."""
    shape = draw(st.tuples(st.integers(1, 60), st.integers(1, 60), st.sampled_from([1, 3, 4])))
    if draw(st.booleans()):
        return draw(hnp.arrays(np.uint8, shape))
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    return draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=np.dtype(dtype).itemsize * 8)))


def is_image_shape(shape: tuple[int, ...]) -> bool:
    if 0 in shape:
        return False
    return len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))


def is_valid_image(a: np.ndarray) -> bool:
    """The input contract, written out independently: an image shape, and uint8 or floats in [0, 1]."""
    in_range = a.dtype.kind == "f" and bool(np.isfinite(a).all()) and bool(((a >= 0) & (a <= 1)).all())
    return is_image_shape(a.shape) and (a.dtype == np.uint8 or in_range)


@SETTINGS
@given(arrays())
def test_preprocess_drawing_only_documented_outcomes(canvas):
    try:
        digit = preprocess_drawing(canvas)
    except ValueError as e:
        assert not is_valid_image(canvas), f"refused a valid canvas: {e}"
        return
    assert is_valid_image(canvas), f"accepted {canvas.dtype} {canvas.shape}"
    if digit is not None:
        assert digit.shape == (28, 28) and digit.dtype == np.uint8
        assert digit.max() > 0  # a digit was found, so some ink reached the output


@SETTINGS
@given(valid_images())
def test_drawing_steps_consistent_with_preprocess(canvas):
    steps = drawing_steps(canvas)
    digit = preprocess_drawing(canvas)
    if steps is None:
        assert digit is None
        return
    assert np.array_equal(steps.digit, digit)
    top, bottom, left, right = steps.box
    assert 0 <= top < bottom <= canvas.shape[0] and 0 <= left < right <= canvas.shape[1]
    assert max(steps.scaled.shape) == 20 and min(steps.scaled.shape) >= 1


@SETTINGS
@given(arrays())
def test_digit_from_photo_only_documented_outcomes(image):
    try:
        digit = digit_from_photo(image)
    except ValueError:
        assert not is_valid_image(image)
        return
    assert is_valid_image(image)
    assert digit is None or (digit.shape == (28, 28) and digit.dtype == np.uint8)


# --- bytes --------------------------------------------------------------------------------------------
def check_load_photo(data: bytes) -> np.ndarray | None:
    """load_photo's result if it accepted ``data`` (checked against the contract), None if it refused."""
    try:
        rgb = load_photo(data)
    except InvalidImageError as e:
        assert str(e), "refused without a message"
        return None
    assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert 1 <= rgb.shape[0] <= MAX_SIDE and 1 <= rgb.shape[1] <= MAX_SIDE
    assert rgb.flags.c_contiguous
    return rgb


@SETTINGS
@given(st.binary(max_size=4096))
def test_load_photo_random_bytes(data):
    check_load_photo(data)


MAGIC = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBPVP8 ", b"<svg", b"<?xml"]


@SETTINGS
@given(st.sampled_from(MAGIC), st.binary(max_size=2048))
def test_load_photo_random_bytes_behind_a_real_signature(magic, tail):
    """Random bytes behind a real file signature reach each decoder's header parser."""
    check_load_photo(magic + tail)


@st.composite
def encoded_images(draw: st.DrawFn) -> tuple[bytes, str, str, tuple[int, int]]:
    """A random small image in a random mode, saved in a random accepted format."""
    fmt = draw(st.sampled_from(["JPEG", "PNG", "GIF", "BMP", "WEBP"]))
    modes = {"JPEG": ["L", "RGB", "CMYK"], "GIF": ["L", "P", "RGB"], "BMP": ["1", "L", "P", "RGB"]}
    mode = draw(st.sampled_from(modes.get(fmt, ["1", "L", "LA", "P", "RGB", "RGBA"])))
    w, h = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**32 - 1))
    channels = len(Image.new(mode, (1, 1)).getbands())
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    im = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, "L" if channels == 1 else None)
    im = im.convert(mode) if im.mode != mode else im
    buf = io.BytesIO()
    kwargs = {}
    if fmt == "PNG" and mode == "P" and draw(st.booleans()):
        kwargs["transparency"] = draw(st.integers(0, 255))
    if draw(st.booleans()) and fmt in ("JPEG", "PNG", "WEBP"):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 10))  # includes invalid orientations 0, 9, 10
        kwargs["exif"] = exif
    im.save(buf, fmt, **kwargs)
    return buf.getvalue(), fmt, mode, (w, h)


@SETTINGS
@given(encoded_images())
def test_load_photo_valid_images_always_load(image):
    data, fmt, mode, (w, h) = image
    rgb = check_load_photo(data)
    assert rgb is not None, f"refused a valid {w}x{h} {mode} {fmt}"
    assert sorted(rgb.shape[:2]) == sorted((h, w))  # same size, maybe turned by EXIF


@st.composite
def damaged_images(draw: st.DrawFn) -> bytes:
    data, *_ = draw(encoded_images())
    damage = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert"]))
    data = bytearray(data)
    if damage == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    at = draw(st.integers(0, len(data) - 1))
    if damage == "flip":
        data[at] ^= 1 << draw(st.integers(0, 7))
    elif damage == "overwrite":
        chunk = draw(st.binary(min_size=1, max_size=16))
        data[at : at + len(chunk)] = chunk
    else:
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@SETTINGS
@given(damaged_images())
def test_load_photo_damaged_images_never_crash(data):
    check_load_photo(data)


@pytest.mark.parametrize("size", [(1, 1), (1, 3000), (3000, 1)])
def test_load_photo_extreme_aspect_ratios(size):
    """Thin slivers must survive the downscale (no side may round down to zero)."""
    buf = io.BytesIO()
    Image.new("RGB", size, (9, 99, 199)).save(buf, "PNG")
    rgb = check_load_photo(buf.getvalue())
    assert rgb is not None and rgb[0, 0].tolist() == [9, 99, 199]
    assert max(rgb.shape[:2]) == min(max(size), MAX_SIDE)
