"""What an upload may be and cost, and how a refusal reads: the bottom of the ``uploads`` package.

Everything else in the package imports this module and it imports nothing of the package (nor NumPy or
Pillow), so a decoding worker can load it while it is still setting itself up. It holds

- ``InvalidImageError`` and the messages a visitor reads when a file is refused;
- the size limits checked before decoding (bytes, pixels, formats);
- the decoding ``Budget`` (CPU seconds, megabytes, workers), read from the environment by ``decode_budget``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 60_000_000  # above any phone camera; refuse before decoding (decompression bombs)
MAX_SIDE = 1600  # photos are downscaled to at most this side after decoding
# Decoders Image.open may use. Only registered opener names belong here: an unknown name makes Pillow raise
# KeyError for every file tried after it. Multi-picture JPEGs (MPO) open through the JPEG opener.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "gif")  # file names of those formats, for upload widgets

CORRUPT_MESSAGE = "The image file is truncated or corrupt and could not be decoded."
TIME_MESSAGE = "This image takes too long to decode ({:g} s of CPU time or more), so it was refused."
MEMORY_MESSAGE = "This image needs more than {:g} MB of memory to decode, so it was refused."
BUSY_MESSAGE = "The server is busy decoding other images; please try again in a moment."

SECONDS_ENV, MEGABYTES_ENV = "PLAYGROUND_DECODE_SECONDS", "PLAYGROUND_DECODE_MB"
WORKERS_ENV = "PLAYGROUND_DECODE_WORKERS"


class InvalidImageError(ValueError):
    """An uploaded file is not an image we can use; the message is written for the user."""


@dataclass(frozen=True)
class Budget:
    """What one decode may cost: CPU seconds and megabytes (the worker's idle size included); how many
    workers decode at once; and, for tests, how long a caller waits (``timeout``, default: see wall_seconds)."""

    seconds: float = 2.0
    megabytes: float = 500.0
    workers: int = (os.cpu_count() or 1) + 1  # two slow uploads on two cores do not hold up a third visitor
    timeout: float | None = None

    @property
    def wall_seconds(self) -> float:
        """How long a caller waits for a free worker and then for its answer (then the worker is killed): the
        CPU budget with room for a busy machine (at least 10 s). The CPU limit, not this, stops a slow file."""
        return self.timeout if self.timeout is not None else max(10.0, 5 * self.seconds + 1)


def _positive(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"${name} must be a positive number, got {text!r}")
    return value


def decode_budget() -> Budget:
    """The budget from the environment (PLAYGROUND_DECODE_SECONDS / _MB / _WORKERS), defaults 2 s, 500 MB."""
    default = Budget()
    return Budget(
        _positive(SECONDS_ENV, default.seconds),
        _positive(MEGABYTES_ENV, default.megabytes),
        int(_positive(WORKERS_ENV, default.workers)),
    )
