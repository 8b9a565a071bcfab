"""Decoders for testing the worker pool: module-level functions a worker process can import by name.

Each takes the bytes first, like the real ones, and returns a uint8 array of 3 dimensions (or never
returns). Only the standard library and NumPy: a worker imports this module, not the tests.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np


def pixels(data: bytes) -> np.ndarray:
    """A 2 x 2 grey image: the decode succeeded."""
    return np.full((2, 2, 3), len(data) % 256, np.uint8)


def spin(data: bytes) -> np.ndarray:
    """Computes for ever: only the worker's CPU budget ends it."""
    while True:
        pass


def crash(data: bytes) -> np.ndarray:
    """Dies the way a decoder crashing in C does."""
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("still alive")


def wait_for(data: bytes, fifo: str) -> np.ndarray:
    """Blocks (using no CPU) until the test that holds ``fifo`` open for writing closes it."""
    with open(fifo, "rb") as f:
        f.read()
    return pixels(data)


def whoami(data: bytes, *modules: str) -> np.ndarray:
    """The worker's process id, thread count and, per module name, 1 if the worker has imported it:
    one int64 per value, as a (1, 8 * n, 1) uint8 image."""
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    values = [os.getpid(), threads, *(int(name in sys.modules) for name in modules)]
    return np.asarray(values, np.int64).view(np.uint8).reshape(1, -1, 1)


def read_whoami(image: np.ndarray) -> list[int]:
    """``whoami``'s values back from its image."""
    return np.frombuffer(image.tobytes(), np.int64).tolist()


_hoard: list[bytes] = []


def hoard(data: bytes, megabytes: int) -> np.ndarray:
    """Keeps ``megabytes`` of memory after returning, as a leaking decoder would."""
    _hoard.append(b"x" * (megabytes * 2**20))
    return pixels(data)


def not_an_image(data: bytes) -> np.ndarray:
    """Returns floats, not uint8 pixels."""
    return np.zeros((2, 2, 3), np.float32)
