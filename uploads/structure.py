"""Cheap structural checks on uploaded bytes, before Pillow parses them: one function per format.

Pillow's parsers do Python-level work per marker, chunk, block or padding byte, and some decoders need
several times the pixel count in memory; a crafted file of a few kilobytes to 20 MB can keep a decoder busy
for minutes. Real photos are far from those extremes, so each check walks the file's structure (never its
pixels) and refuses what no camera, phone or image editor writes: thousands of metadata segments, hundreds of
progressive scans, megabytes of padding, run-length-encoded BMPs, coding modes we do not need. They return
the format and the header's pixel size, so the caller can refuse an image too big to decode in its memory
budget before a byte of it is decoded.

These checks are a first line: the hard limit is the decoding budget of ``uploads.pool`` (CPU seconds
and memory), which also stops whatever slips through here. Each walk is bounded by its caps,
so it costs a few milliseconds on any input up to the 20 MB upload limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class StructureError(ValueError):
    """The file's structure is outside what real images have; the message is written for the user."""


@dataclass(frozen=True)
class Header:
    """What a structural check learned: Pillow's format name, the pixel size, and for JPEG how the pixels
    are coded (progressive JPEGs keep every coefficient in memory while decoding)."""

    format: str
    width: int
    height: int
    progressive: bool = False
    samples_per_pixel: float = 1.0  # JPEG: colour samples per pixel after chroma subsampling (1.5 for 4:2:0)


# --- JPEG ---------------------------------------------------------------------------------------------
JPEG_MAX_SEGMENTS = 1_000  # every marker segment up to the end of the image; cameras write a few dozen
JPEG_MAX_METADATA = 256  # APPn and COM segments (an ICC profile or extended XMP may span several)
JPEG_MAX_EXIF = 4  # Exif fits one 64 KB segment; Pillow concatenates repeats, which costs quadratic time
JPEG_MAX_SCANS = 64  # progressive encoders write about 10 scans; every scan is a pass over the whole image
JPEG_MAX_SCAN_PIXELS = 1_200_000_000  # scans x pixels: 20 scans of 60 megapixels, ~1 s of CPU here
JPEG_MAX_GAP = 1_024  # bytes between header segments: Pillow skips padding one byte at a time in Python
JPEG_FILL = b"\xff" * 256  # fill bytes in scan data (legal before a marker, never written in bulk): slow in libjpeg
# Start-of-frame markers Pillow's decoder (libjpeg) is asked for: baseline, extended and progressive
# Huffman. Lossless, hierarchical and arithmetic-coded JPEGs are refused: no camera writes them.
JPEG_FRAMES = {0xC0: False, 0xC1: False, 0xC2: True}  # marker -> progressive
JPEG_OTHER_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# A marker: 0xFF followed by anything but 0x00 (an escaped 0xFF in scan data), a restart marker D0-D7
# (inside scan data) or another 0xFF (fill). Searching with a regular expression skips scan data in C.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def check_jpeg(data: bytes) -> Header | None:
    """Walk the marker segments of the first picture (up to EOI). Raises StructureError for too many
    segments, metadata or Exif blocks, too many scans, padding before the first scan, a second frame
    header or an unneeded coding mode; None when there is no frame header (the decoder says what is wrong)."""
    pos, segments, metadata, exif, scans = 2, 0, 0, 0, 0
    frame: Header | None = None
    frames = 0
    while True:
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            break  # truncated: the decoder reports that
        start = found.start()
        if scans == 0 and start - pos > JPEG_MAX_GAP:  # after a scan, the gap is the compressed image
            raise StructureError("The JPEG file has megabytes of padding between its headers.")
        if scans and data.find(JPEG_FILL, pos, start) >= 0:
            raise StructureError("The JPEG file has megabytes of padding in its image data.")
        marker = data[start + 1]
        if marker == 0xD9:  # end of image (pictures appended after it, as in MPO files, are never decoded)
            break
        if marker in (0x01, 0xD8):  # markers without a length field
            pos = start + 2
            continue
        segments += 1
        if segments > JPEG_MAX_SEGMENTS:
            raise StructureError(f"The JPEG file has more than {JPEG_MAX_SEGMENTS} segments; no camera writes that.")
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            metadata += 1
            exif += marker == 0xE1 and data[start + 4 : start + 10] == b"Exif\0\0"
            if metadata > JPEG_MAX_METADATA or exif > JPEG_MAX_EXIF:
                raise StructureError("The JPEG file repeats its metadata blocks hundreds of times.")
        elif marker in JPEG_OTHER_FRAMES:
            raise StructureError(
                "This JPEG is lossless, hierarchical or arithmetic-coded; please save it as an ordinary JPEG."
            )
        elif marker in JPEG_FRAMES:
            frames += 1
            if frames > 1:  # libjpeg refuses it too, but Pillow would size the image by the last one
                raise StructureError("The JPEG file has two image headers.")
            frame = _jpeg_frame(data, start, JPEG_FRAMES[marker])
        elif marker == 0xDA:
            scans += 1
            too_slow = scans > 1 and frame and scans * frame.width * frame.height > JPEG_MAX_SCAN_PIXELS
            if scans > JPEG_MAX_SCANS or too_slow:  # (one scan is always needed: a huge one is the size check's)
                raise StructureError(f"The JPEG file has too many progressive scans ({scans} or more) for its size.")
        pos = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    return frame


def _jpeg_frame(data: bytes, start: int, progressive: bool) -> Header | None:
    """The start-of-frame segment: precision, height, width, then (id, sampling, table) per component; None
    when it is cut off or gives no size (a height of 0, to be defined later by a DNL marker, which libjpeg
    does not support either)."""
    height = int.from_bytes(data[start + 5 : start + 7], "big")
    width = int.from_bytes(data[start + 7 : start + 9], "big")
    count = data[start + 9] if start + 9 < len(data) else 0
    factors = [data[start + 11 + 3 * i] for i in range(count) if start + 11 + 3 * i < len(data)]
    if not factors or height == 0 or width == 0:
        return None
    h = [f >> 4 or 1 for f in factors]
    v = [f & 15 or 1 for f in factors]
    samples = sum(a * b for a, b in zip(h, v)) / (max(h) * max(v))
    return Header("JPEG", width, height, progressive, samples)


# --- PNG ----------------------------------------------------------------------------------------------
PNG_MAX_CHUNKS = 25_000  # image data is usually split into 8-64 KB chunks: 25,000 covers 200 MB of them
PNG_MAX_OTHER_CHUNKS = 1_000  # text, colour profile, animation control ...; Pillow reads each in Python


def check_png(data: bytes) -> Header | None:
    """Walk the chunks, at most PNG_MAX_CHUNKS up to IEND; None without an IHDR first (the decoder says what
    is wrong)."""
    if data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    pos, chunks, others = 8, 0, 0
    while pos + 8 <= len(data):
        kind = data[pos + 4 : pos + 8]
        if kind == b"IEND":
            break
        chunks += 1
        others += kind not in (b"IDAT", b"fdAT")
        if chunks > PNG_MAX_CHUNKS or others > PNG_MAX_OTHER_CHUNKS:
            raise StructureError("The PNG file is split into an absurd number of chunks.")
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")  # length, type, data, CRC
    return Header("PNG", width, height)


# --- GIF ----------------------------------------------------------------------------------------------
GIF_MAX_EXTENSION_BLOCKS = 20_000  # sub-blocks of comments and other extensions before the first picture


def check_gif(data: bytes) -> Header:
    """Walk the blocks before the first picture (the only one decoded), counting extension sub-blocks."""
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    flags = data[10] if len(data) > 10 else 0
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global colour table
    sub_blocks = 0
    while pos < len(data) and data[pos] == 0x21:  # an extension: introducer, label, sub-blocks, terminator
        pos += 2
        while pos < len(data) and data[pos] != 0:
            sub_blocks += 1
            if sub_blocks > GIF_MAX_EXTENSION_BLOCKS:
                raise StructureError("The GIF file has an absurd number of comment or extension blocks.")
            pos += 1 + data[pos]
        pos += 1
    if pos + 9 < len(data) and data[pos] == 0x2C:  # the first picture may extend the logical screen
        left, top = int.from_bytes(data[pos + 1 : pos + 3], "little"), int.from_bytes(data[pos + 3 : pos + 5], "little")
        w, h = int.from_bytes(data[pos + 5 : pos + 7], "little"), int.from_bytes(data[pos + 7 : pos + 9], "little")
        width, height = max(width, left + w), max(height, top + h)
    return Header("GIF", width, height)


# --- WebP ---------------------------------------------------------------------------------------------
def check_webp(data: bytes) -> Header:
    """Read the canvas size from the first chunk: libwebp allocates the whole canvas as soon as the file
    is opened, so the size must be checked before Pillow sees the file."""
    kind = data[12:16]
    if kind == b"VP8X":  # extended (alpha, animation, metadata): 24-bit canvas width - 1 and height - 1
        width, height = 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    elif kind == b"VP8L":  # lossless: after the 0x2F signature, 14 bits of width - 1 and of height - 1
        bits = int.from_bytes(data[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif kind == b"VP8 ":  # lossy: after the frame tag and start code, 14-bit width and height
        width, height = int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    else:
        raise StructureError("The WebP file has no image data we know.")
    return Header("WEBP", width, height)


# --- BMP ----------------------------------------------------------------------------------------------
BMP_COMPRESSIONS = (0, 3, 6)  # uncompressed and bit fields; Pillow decodes run-length BMPs in pure Python


def check_bmp(data: bytes) -> Header:
    """Read the info header: size, and refuse run-length (or embedded JPEG/PNG) compression."""
    header_size = int.from_bytes(data[14:18], "little")
    if header_size == 12:  # OS/2 version 1: 16-bit sizes, never compressed
        return Header("BMP", int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little"))
    width = int.from_bytes(data[18:22], "little", signed=True)
    height = int.from_bytes(data[22:26], "little", signed=True)  # negative: stored top-down
    if int.from_bytes(data[30:34], "little") not in BMP_COMPRESSIONS:
        raise StructureError("Compressed (run-length) BMP files are not supported; please upload a PNG or JPEG.")
    return Header("BMP", abs(width), abs(height))


# --- dispatch -----------------------------------------------------------------------------------------
_CHECKS = (
    (b"\xff\xd8\xff", check_jpeg),
    (b"\x89PNG\r\n\x1a\n", check_png),
    (b"GIF87a", check_gif),
    (b"GIF89a", check_gif),
    (b"BM", check_bmp),
)


def check_structure(data: bytes) -> Header | None:
    """The header of an accepted format after its structural check, None for bytes of no accepted format
    (Pillow then refuses them). Raises StructureError for a file outside what real images have."""
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return check_webp(data)
    for signature, check in _CHECKS:
        if data.startswith(signature):
            return check(data)
    return None
