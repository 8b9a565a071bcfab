"""What runs inside a decoding worker process: its set-up (``start``) and one decode under the budget (``decode``).

``uploads.pool`` starts each worker with ``start`` as its initializer. It runs before NumPy or Pillow are
imported (this module and ``uploads.limits`` need only the standard library, and the package's
``__init__`` loads nothing eagerly), so the one-thread environment reaches OpenBLAS; then it drops core
dumps, gives SIGPROF its default action (ending the process), tunes malloc to hand freed memory back, and
imports the decoders so that the worker's idle size, measured next, includes them.

For each call ``decode`` arms

- a CPU-time timer (``setitimer(ITIMER_PROF)``), whose signal ends the process when it fires, and
- an address-space limit (``setrlimit(RLIMIT_AS)``) of the worker's present size plus what is left of the
  memory budget once its idle size is taken off, so an allocation past it fails with MemoryError,

and answers with plain values: (status, retire, payload, shape), the payload being the raw pixels or a
message. ``retire`` asks the pool to replace the worker (it ran out of memory, so its heap may be left
fragmented, or it grew by RECYCLE_MB while decoding).

Platforms: the memory limit needs Linux (``resource`` and /proc; macOS accepts RLIMIT_AS but does not
enforce it) and the CPU timer needs a POSIX system; where they are missing the call runs unlimited and only
the pool's wall-clock timeout holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from uploads.limits import CORRUPT_MESSAGE, InvalidImageError

try:
    import resource
except ImportError:  # Windows: no rlimits (see the module docstring)
    resource = None  # type: ignore[assignment]

OK, REFUSED, OVER_MEMORY = 0, 1, 2  # the status of a reply
RECYCLE_MB = 64  # a worker whose resident memory grew this much over its idle size is replaced
MAX_MESSAGE = 1000  # characters of a refusal sent back
# One thread for every numerical library: a worker decodes one file on one core. Read when they load.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# glibc's mallopt parameters: one arena, and blocks over 128 KB mapped and unmapped on their own, so that
# memory a decode freed goes back to the system at once (the environment variables come too late here).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_MALLOC_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, 131072), (_M_TRIM_THRESHOLD, 131072))

Reply = tuple[int, bool, "bytes | str", tuple[int, ...]]  # status, retire, pixels or message, shape


class _Settings:
    """This worker's budget, set once by ``start``."""

    seconds = 2.0
    allowance_mb = 500.0  # the memory budget less the worker's idle size
    idle_rss_kb = 0


def memory_kb() -> dict[str, int]:
    """VmSize (address space) and VmRSS (resident) of this process in kB, from /proc (Linux only)."""
    try:
        with open("/proc/self/status") as f:
            return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("VmSize", "VmRSS")}
    except OSError:
        return {}


def _tune_malloc() -> None:
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): the defaults stay
        return
    for parameter, value in _MALLOC_SETTINGS if mallopt else ():
        mallopt(parameter, value)


def start(seconds: float, megabytes: float, preload: Sequence[str] = ()) -> None:
    """The worker's initializer: limits for the whole process, then the ``preload`` modules (the decoders),
    then the idle size that the memory budget is charged for."""
    os.environ.update(THREAD_ENV)
    _tune_malloc()
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    if resource is not None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a decoder killed for its budget leaves no core file
    for module in preload:
        importlib.import_module(module)
    _Settings.seconds = seconds
    _Settings.idle_rss_kb = memory_kb().get("VmRSS", 0)
    _Settings.allowance_mb = megabytes - _Settings.idle_rss_kb / 1024


def ready() -> int:
    """A ping: the worker is up (its process id)."""
    return os.getpid()


@contextmanager
def limits(seconds: float, megabytes: float) -> Iterator[None]:
    """Arm the CPU timer and the address-space limit for one decode (``megabytes`` more than the worker's
    present size), and disarm both afterwards."""
    size_kb = memory_kb().get("VmSize")
    saved = None
    if resource is not None and size_kb is not None:
        saved = resource.getrlimit(resource.RLIMIT_AS)
        limit = size_kb * 1024 + max(0, int(megabytes * 2**20))
        if saved[1] != resource.RLIM_INFINITY:
            limit = min(limit, saved[1])
        resource.setrlimit(resource.RLIMIT_AS, (limit, saved[1]))
    if hasattr(signal, "setitimer"):  # counts this process's CPU time; SIGPROF's default action ends it
        signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_PROF, 0)
        if saved is not None:
            resource.setrlimit(resource.RLIMIT_AS, saved)


def decode(decoder: Callable[..., Any], data: bytes, *args: Any) -> Reply:
    """``decoder(data, *args)`` under the budget, as a reply of plain values (see the module docstring)."""
    status, retire, payload, shape = REFUSED, False, CORRUPT_MESSAGE, ()
    pixels = None
    try:
        with limits(_Settings.seconds, _Settings.allowance_mb):
            pixels = decoder(data, *args)
    except InvalidImageError as e:
        payload = str(e)[:MAX_MESSAGE]
    except MemoryError:
        status, retire = OVER_MEMORY, True  # the heap may be left fragmented: a fresh worker takes over
    except Exception:  # noqa: BLE001 - whatever else went wrong, the answer is "could not decode"
        pass
    # A decoder that returns no 8-bit image has failed too: "could not decode".
    if getattr(pixels, "ndim", 0) == 3 and str(getattr(pixels, "dtype", "")) == "uint8":
        status, payload, shape = OK, pixels.tobytes(), tuple(pixels.shape)
    del pixels  # before measuring: the pixels are sent as bytes
    if memory_kb().get("VmRSS", 0) - _Settings.idle_rss_kb > RECYCLE_MB * 1024:
        retire = True  # keep idle workers small: this one is replaced after answering
    return status, retire, payload, shape
