"""Decoding untrusted bytes in worker processes, each call under a hard budget of CPU time and memory.

Image decoders are large C libraries driven by Python parsers; a crafted file can make them work for
minutes or allocate gigabytes. The app therefore never decodes an upload or a canvas in its own process:
``run_bounded`` hands the bytes to a warm worker (a plain ``python`` subprocess that imports NumPy and
Pillow once, never torch) and waits for the pixels. For each call the worker arms

- a CPU-time timer (``setitimer(ITIMER_PROF)``, whose signal ends the process when it fires), and
- an address-space limit (``setrlimit(RLIMIT_AS)``) of its current size plus the memory budget, so an
  allocation past the budget fails with MemoryError (or a decoder's "out of memory"),

and the caller also gives up after a wall-clock timeout and kills the worker. A worker that dies, runs out
of memory or times out is replaced; the caller gets an InvalidImageError whose message a visitor can read,
and the server and the other sessions carry on. Workers answer in a fixed binary format (status, shape,
raw uint8 pixels), never with pickles: a worker taken over by a malicious file still cannot run code in the
server.

Budget (environment, read when the pool starts): PLAYGROUND_DECODE_SECONDS (CPU seconds per call, default
2), PLAYGROUND_DECODE_MB (memory per call over the worker's idle size, default 500), PLAYGROUND_DECODE_WORKERS
(default: CPU cores + 1, so that two slow uploads on two cores do not hold up a third visitor).

Platforms: the memory limit needs Linux (``resource`` and /proc; macOS accepts RLIMIT_AS but does not
enforce it) and the CPU timer needs a POSIX system. Where they are missing (Windows) the worker still runs
and the wall-clock timeout still holds, but memory is bounded only by the structural and size checks made
before decoding; serve the app from Linux (or its Docker image) when it faces the internet.
"""

from __future__ import annotations

import atexit
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from models.preprocessing.upload import CORRUPT_MESSAGE, InvalidImageError

try:
    import resource
except ImportError:  # Windows: no rlimits (see the module docstring)
    resource = None  # type: ignore[assignment]

SECONDS_ENV, MEGABYTES_ENV = "PLAYGROUND_DECODE_SECONDS", "PLAYGROUND_DECODE_MB"
WORKERS_ENV = "PLAYGROUND_DECODE_WORKERS"
DECODERS = ("photo", "canvas")  # what a worker can be asked to decode (see _decoders)
ROOT = Path(__file__).resolve().parents[2]

TIME_MESSAGE = "This image takes too long to decode ({:g} s of CPU time or more), so it was refused."
MEMORY_MESSAGE = "This image needs more than {:g} MB of memory to decode, so it was refused."
BUSY_MESSAGE = "The server is busy decoding other images; please try again in a moment."

# One request: decoder index, background colour (r, g, b), byte count; then the bytes. One reply: status,
# then (height, width, channels) and the pixels, or (message length, 0, 0) and the UTF-8 message.
_REQUEST = struct.Struct("<4BI")
_REPLY = struct.Struct("<B3I")
OK, REFUSED, OVER_MEMORY = 0, 1, 2
RETIRING = 0x80  # status flag: the worker exits after this reply (it grew, or ran out of memory)
MAX_REPLY_BYTES = 64 * 2**20  # more than any decoded result (1600 x 1600 x 4); a bigger reply is a broken worker
RECYCLE_MB = 64  # a worker whose resident memory grew this much over its idle size is replaced


@dataclass(frozen=True)
class Budget:
    """What one decode may cost: CPU seconds and megabytes over the worker's idle size; and how many
    workers decode at once."""

    seconds: float = 2.0
    megabytes: float = 500.0
    workers: int = (os.cpu_count() or 1) + 1

    @property
    def wall_seconds(self) -> float:
        """How long a caller waits for a worker's answer (then the worker is killed): the CPU budget with
        room for a busy machine (at least 10 s). The CPU timer, not this, is what stops a slow file."""
        return max(10.0, 5 * self.seconds + 1)


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


# --- the worker process -------------------------------------------------------------------------------
def _memory_kb() -> dict[str, int]:
    """VmSize (address space) and VmRSS (resident) of this process in kB, from /proc (Linux only)."""
    try:
        with open("/proc/self/status") as f:
            return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("VmSize", "VmRSS")}
    except OSError:
        return {}


@contextmanager
def _limits(seconds: float, megabytes: float) -> Iterator[None]:
    """Arm the CPU timer and the address-space limit for one decode (``megabytes`` more than the worker's
    present size), and disarm both afterwards."""
    size_kb = _memory_kb().get("VmSize")
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


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    """Exactly ``size`` bytes from a pipe, or None at its end (the other side exited)."""
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _decoders() -> list[Callable[[bytes, tuple[int, int, int], float], np.ndarray]]:
    from models.preprocessing.canvas import decode_canvas
    from models.preprocessing.upload import decode_photo

    by_name = {"photo": decode_photo, "canvas": lambda data, _background, budget_mb: decode_canvas(data, budget_mb)}
    return [by_name[name] for name in DECODERS]


def serve(seconds: float, megabytes: float, charge_startup: bool) -> None:
    """The worker's loop: read a request from stdin, decode it under the limits, write the reply to stdout.
    With ``charge_startup`` (a worker started for the call waiting on it) the CPU time spent starting up
    counts against that first call's budget."""
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    if resource is not None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a decoder killed for its budget leaves no core file
    decoders = _decoders()
    # The budget covers the whole worker: its idle size is taken from the memory it may add, and the CPU
    # time it spent since it was last ready (starting up, if a caller is waiting for it) from the time.
    idle_rss = _memory_kb().get("VmRSS", 0)
    allowance = megabytes - idle_rss / 1024
    ready = 0.0 if charge_startup else time.process_time()  # process CPU time when last ready
    while (head := _read_exact(requests, _REQUEST.size)) is not None:
        index, r, g, b, size = _REQUEST.unpack(head)
        data = _read_exact(requests, size)
        if data is None:
            return
        if index >= len(decoders):  # a ping: the worker is up
            replies.write(_REPLY.pack(REFUSED, 0, 0, 0))
            replies.flush()
            ready = time.process_time()
            continue
        status, pixels, message = REFUSED, None, CORRUPT_MESSAGE
        try:
            with _limits(max(0.01, seconds - (time.process_time() - ready)), allowance):
                pixels = np.ascontiguousarray(decoders[index](data, (r, g, b), megabytes), np.uint8)
            status = OK
        except InvalidImageError as e:
            message = str(e)
        except MemoryError:
            status = OVER_MEMORY | RETIRING  # the heap may be left fragmented: a fresh worker takes over
        except Exception:  # noqa: BLE001 - whatever else went wrong, the answer is "could not decode"
            pass
        del data
        if _memory_kb().get("VmRSS", 0) - idle_rss > RECYCLE_MB * 1024:
            status |= RETIRING  # keep idle workers small: this one leaves after answering
        if status & 0x7F == OK and (pixels is None or pixels.ndim != 3):
            status = REFUSED | (status & RETIRING)  # a decoder that returns no image: "could not decode"
        if status & 0x7F == OK:
            replies.write(_REPLY.pack(status, *pixels.shape))
            replies.write(pixels.data)
        else:
            text = message.encode()[:1000]
            replies.write(_REPLY.pack(status, len(text), 0, 0) + text)
        replies.flush()
        if status & RETIRING:
            return
        ready = time.process_time()


# --- the server side ----------------------------------------------------------------------------------
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from models.preprocessing.sandbox import serve; " \
        "serve(float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == '1')"
_WORKER_ENV = {  # one thread, and freed memory handed back to the system at once
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072",
}


_Reply = tuple[int, object]  # (status, pixels or message)


class _Worker:
    """One worker process and a thread that reads its replies (so a caller can wait with a timeout)."""

    def __init__(self, budget: Budget, charge_startup: bool) -> None:
        args = [str(ROOT), str(budget.seconds), str(budget.megabytes), "1" if charge_startup else "0"]
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, **_WORKER_ENV},
        )
        self.replies: queue.SimpleQueue[_Reply | None] = queue.SimpleQueue()
        self.retiring = self.timed_out = False
        threading.Thread(target=self._read_replies, daemon=True, name="decode-worker-reader").start()

    def _read_replies(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while (head := _read_exact(stream, _REPLY.size)) is not None:
            status, a, b, c = _REPLY.unpack(head)
            if status & 0x7F == OK:
                size = a * b * c
                if size > MAX_REPLY_BYTES or c not in (1, 3, 4) or (payload := _read_exact(stream, size)) is None:
                    break
                value: object = np.frombuffer(payload, np.uint8).reshape(a, b, c)
            else:
                if a > 1000 or (payload := _read_exact(stream, a)) is None:
                    break
                value = payload.decode(errors="replace")
            self.replies.put((status, value))
        self.replies.put(None)  # the worker is gone (or broke the protocol)

    def wait_ready(self) -> None:
        """Block until the worker has started (it answers a ping: an empty request to no decoder)."""
        try:
            reply = self.call(len(DECODERS), b"", (0, 0, 0), 30)
        except BrokenPipeError:
            reply = None
        if reply is None:
            self.stop()

    def alive(self) -> bool:
        return not self.retiring and self.process.poll() is None

    def call(self, index: int, data: bytes, background: tuple[int, int, int], timeout: float) -> _Reply | None:
        """Send one request; its (status, pixels or message), or None if the worker died or timed out while
        decoding. Raises BrokenPipeError if the worker was gone before it got the request."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(_REQUEST.pack(index, *background, len(data)))
            stdin.write(data)
            stdin.flush()
        except OSError as e:
            raise BrokenPipeError("the decoding worker exited while idle") from e
        try:
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            self.timed_out = True
            return None
        if reply is not None and reply[0] & RETIRING:
            self.retiring = True
        return reply

    def stop(self, grace: float = 0.0) -> int | None:
        """Reap the process, killing it unless it exits within ``grace`` seconds; its exit status."""
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None


# How a worker stopped by its CPU budget exits: SIGPROF from its timer (or SIGXCPU from an RLIMIT_CPU).
_TIME_SIGNALS = {-getattr(signal, name) for name in ("SIGPROF", "SIGXCPU") if hasattr(signal, name)}


class DecoderPool:
    """Warm workers, at most ``budget.workers`` decoding at once; ``run`` is safe to call from many threads."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or decode_budget()
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.budget.workers)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.stop()
        return _Worker(self.budget, charge_startup=True)  # started outside the lock: others need not wait

    def _give_back(self, worker: _Worker) -> None:
        if worker.alive():
            with self._lock:
                self._idle.append(worker)
        else:
            worker.stop()

    def prewarm(self, count: int = 1, wait: bool = False) -> None:
        """Start workers (in the background unless ``wait``) until ``count`` are idle, so that visitors do not
        wait the ~0.3 s of CPU a worker takes to start (nor have it taken from their budget)."""
        with self._lock:
            missing = count - len(self._idle)

        def start() -> None:
            workers = [_Worker(self.budget, charge_startup=False) for _ in range(missing)]
            for worker in workers:
                worker.wait_ready()
                self._give_back(worker)

        if missing > 0 and wait:
            start()
        elif missing > 0:
            threading.Thread(target=start, daemon=True, name="decode-worker-prewarm").start()

    def run(self, name: str, data: bytes, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
        """Decode ``data`` with the decoder ``name`` in a worker, under the budget. Returns the uint8 pixels;
        raises InvalidImageError when the decoder refuses the file or the budget runs out."""
        if not self._slots.acquire(timeout=self.budget.wall_seconds):
            raise InvalidImageError(BUSY_MESSAGE)
        try:
            reply = self._call(DECODERS.index(name), data, background)
        finally:
            self._slots.release()
        status, value = reply
        if status & 0x7F == OVER_MEMORY:
            raise InvalidImageError(MEMORY_MESSAGE.format(self.budget.megabytes))
        if status & 0x7F != OK:
            raise InvalidImageError(str(value))
        assert isinstance(value, np.ndarray)
        return value

    def _call(self, index: int, data: bytes, background: tuple[int, int, int]) -> _Reply:
        worker = self._take()
        try:
            reply = worker.call(index, data, background, self.budget.wall_seconds)
        except BrokenPipeError:  # it had died while idle, before seeing these bytes: ask a fresh one once
            worker.stop()
            worker = _Worker(self.budget)
            reply = worker.call(index, data, background, self.budget.wall_seconds)
        if reply is not None:
            self._give_back(worker)
            return reply
        # No answer: too slow (still running), or it died (killed by its CPU timer, or crashed). Never reused.
        status = worker.stop(grace=0 if worker.timed_out else 1)  # a dying worker may take a moment to exit
        if status in _TIME_SIGNALS:
            raise InvalidImageError(TIME_MESSAGE.format(self.budget.seconds))
        if worker.timed_out:  # within its CPU budget but not done in time: the machine is overloaded
            raise InvalidImageError(BUSY_MESSAGE)
        raise InvalidImageError(CORRUPT_MESSAGE)

    def close(self) -> None:
        """Stop every idle worker (busy ones are stopped by their callers)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


_pool: DecoderPool | None = None
_pool_lock = threading.Lock()


def default_pool() -> DecoderPool:
    """The process-wide pool, created on first use with the budget from the environment."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = DecoderPool()
        return _pool


def reset_default_pool() -> None:
    """Stop the process-wide pool; the next call starts a new one (reading the environment again)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


atexit.register(reset_default_pool)


def run_bounded(name: str, data: bytes, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Decode ``data`` with the decoder ``name`` ("photo" or "canvas") in the default pool, under its budget."""
    return default_pool().run(name, data, background)
