"""Decoding untrusted bytes in worker processes, each call under a hard budget of CPU time and memory.

Image decoders are large C libraries driven by Python parsers; a crafted file can make them work for
minutes or allocate gigabytes. The app therefore never decodes an upload or a canvas in its own process:
``run_bounded`` hands the bytes to a warm worker process and waits for the pixels. What runs there, and the
CPU timer and address-space limit armed for each call, is ``uploads.worker``.

Each worker is the one process of its own ``concurrent.futures.ProcessPoolExecutor``: an executor whose
worker dies fails every future it holds, so a decode killed for its budget must be the only one its
executor is running, and other visitors' decodes, in other executors, carry on. There are
``budget.workers`` of them (default: CPU cores + 1, so that two slow uploads on two cores do not hold up a
third visitor). A caller takes an idle one, or after the wall-clock timeout hears that the server is busy;
then it waits up to that timeout for the answer, and kills the worker if none comes. A worker that dies, is
killed, runs out of memory or grew is replaced by a fresh executor, started at once; the caller gets an
InvalidImageError whose message a visitor can read (TIME_MESSAGE when the worker's exit signal is its CPU
timer's, MEMORY_MESSAGE, BUSY_MESSAGE, CORRUPT_MESSAGE). Every worker also leaves after
MAX_TASKS_PER_WORKER calls (``max_tasks_per_child``; its executor starts the next one at once), so a slow
leak in a decoder never builds up.

Workers are started with "spawn": ``max_tasks_per_child`` refuses "fork", and a forked copy of the server
would hold torch and Streamlit. A spawned worker imports the standard library, NumPy, Pillow and the
decoders (about 0.2 s of CPU and 45 MB resident); ``prewarm`` starts workers ahead, so that visitors do not
wait for that. multiprocessing would run the parent's ``__main__`` again in each spawned child, and while
Streamlit runs a page, ``__main__`` is that page's script: the workers are started without it
(``uploads.spawn``), so a worker never imports Streamlit, torch or the app.

Replies are pickles: the executor unpickles whatever a worker sends. The worker sends only plain values
(status, raw pixel bytes, shape; checked here before they become an array), but a worker taken over by a
decoder exploit could send a pickle that runs code in the server. It already runs as the server's user,
with the same files and network, so that gives it no new rights; the workers bound resources (CPU time,
memory, crashes), they are not a privilege boundary. To have one, run the decoders as another user or
under seccomp.

Budget (environment, read when the pool starts): PLAYGROUND_DECODE_SECONDS (CPU seconds per call, default
2), PLAYGROUND_DECODE_MB (memory per call, the worker's idle size included, default 500),
PLAYGROUND_DECODE_WORKERS (default: CPU cores + 1). Where the limits are missing (Windows) the wall-clock
timeout still holds, but memory is bounded only by the checks made before decoding; serve the app from
Linux (or its Docker image) when it faces the internet.
"""

from __future__ import annotations

import atexit
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from uploads import worker
from uploads.limits import (
    BUSY_MESSAGE,
    CORRUPT_MESSAGE,
    MEMORY_MESSAGE,
    TIME_MESSAGE,
    Budget,
    InvalidImageError,
    decode_budget,
)
from uploads.spawn import SPAWN_WITHOUT_MAIN

MAX_TASKS_PER_WORKER = 200
MAX_REPLY_BYTES = 64 * 2**20  # more than any decoded result (1600 x 1600 x 4); a bigger reply is a broken worker
# Modules a worker imports before its idle size is measured: the decoders the app runs. Names, not imports:
# they import this module.
PRELOAD = ("uploads.photo_file", "uploads.canvas")
# How a worker stopped by its CPU budget exits: SIGPROF from its timer (or SIGXCPU from an RLIMIT_CPU).
TIME_SIGNALS = {-getattr(signal, name) for name in ("SIGPROF", "SIGXCPU") if hasattr(signal, name)}


class WorkerExit(Exception):
    """Why a decode had no answer: its worker's exit code (minus the signal that ended it; None if unknown).
    Chained to the InvalidImageError the caller gets, as its ``__cause__``."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"the decoding worker exited with code {exitcode}")
        self.exitcode = exitcode


def _processes(executor: ProcessPoolExecutor) -> list[BaseProcess]:
    """The executor's worker processes. ProcessPoolExecutor keeps them private (Python 3.14 adds
    ``kill_workers``); the pool needs them to kill a worker past the wall clock and to learn how one exited."""
    return list((getattr(executor, "_processes", None) or {}).values())


class _Slot:
    """One worker: a single-process executor, replaced whenever its worker has to go."""

    def __init__(self, budget: Budget, preload: Sequence[str]) -> None:
        self._initargs = (budget.seconds, budget.megabytes, tuple(preload))
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, SPAWN_WITHOUT_MAIN, worker.start, self._initargs,
                                   max_tasks_per_child=MAX_TASKS_PER_WORKER)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if any(p.exitcode not in (None, 0) for p in _processes(self.executor)):
            self.replace()  # it died while idle (0 is a worker leaving after MAX_TASKS_PER_WORKER calls)
        try:
            return self.executor.submit(fn, *args)
        except BrokenProcessPool:  # it broke before seeing these bytes: ask a fresh one, once
            self.replace()
            return self.executor.submit(fn, *args)

    def warm(self) -> Future | None:
        """Start the worker now (a ping), unless the executor is being replaced."""
        try:
            return self.executor.submit(worker.ready)
        except (BrokenProcessPool, RuntimeError):
            return None

    def exit_code(self, kill: bool = False) -> int | None:
        """How the worker exited (a negative signal number), killing it first with ``kill``. The executor
        reaps a dead worker too, so the code is read back until it is there (it is dead: within moments)."""
        for process in _processes(self.executor):
            if kill:
                process.kill()
            for _ in range(100):
                if process.exitcode is not None:
                    return process.exitcode
                process.join(0.01)
                time.sleep(0.01)  # join() finds nothing when the executor's thread reaped it first
        return None

    def replace(self) -> None:
        """A fresh executor in its place; the old worker leaves once idle (a dead one is already gone)."""
        old, self.executor = self.executor, self._start()
        old.shutdown(wait=False, cancel_futures=True)
        self.warm()


class DecoderPool:
    """``budget.workers`` workers, each decoding one call at a time; ``run`` is safe to call from many threads."""

    def __init__(self, budget: Budget | None = None, preload: Sequence[str] = PRELOAD) -> None:
        self.budget = budget or decode_budget()
        self._slots = [_Slot(self.budget, preload) for _ in range(self.budget.workers)]
        self._idle: queue.LifoQueue[_Slot] = queue.LifoQueue()  # the last used, warmest worker first
        for slot in reversed(self._slots):
            self._idle.put(slot)

    def prewarm(self, count: int = 1, wait: bool = False) -> None:
        """Start ``count`` workers (the first ones callers take), waiting for them with ``wait``, so that
        visitors do not wait the ~0.2 s of CPU a worker takes to start."""
        futures = [future for slot in self._slots[:count] if (future := slot.warm()) is not None]
        for future in futures if wait else ():
            future.exception(timeout=60)  # a worker that failed to start is replaced by its first caller

    def run(self, decoder: Callable[..., np.ndarray], data: bytes, *args: Any) -> np.ndarray:
        """``decoder(data, *args)`` in a worker, under the budget: its uint8 pixels (H, W, C). Raises
        InvalidImageError when the decoder refuses the file or the budget runs out. ``decoder`` must be a
        module-level function (the worker imports it by name) returning a uint8 array of 3 dimensions."""
        try:
            slot = self._idle.get(timeout=self.budget.wall_seconds)
        except queue.Empty:
            raise InvalidImageError(BUSY_MESSAGE) from None
        try:
            reply = self._call(slot, decoder, data, args)
        finally:
            self._idle.put(slot)
        return self._pixels(reply)

    def _call(self, slot: _Slot, decoder: Callable[..., Any], data: bytes, args: tuple[Any, ...]) -> worker.Reply:
        future = slot.submit(worker.decode, decoder, data, *args)
        try:
            reply = future.result(timeout=self.budget.wall_seconds)
        except TimeoutError:  # within its CPU budget but not done in time: the machine is overloaded
            code = slot.exit_code(kill=True)
            slot.replace()
            message = TIME_MESSAGE.format(self.budget.seconds) if code in TIME_SIGNALS else BUSY_MESSAGE
            raise InvalidImageError(message) from WorkerExit(code)
        except BrokenProcessPool:  # it died: killed by its CPU timer, or crashed
            code = slot.exit_code()
            slot.replace()
            message = TIME_MESSAGE.format(self.budget.seconds) if code in TIME_SIGNALS else CORRUPT_MESSAGE
            raise InvalidImageError(message) from WorkerExit(code)
        if reply[1]:  # it ran out of memory or grew: replaced now, while idle
            slot.replace()
        return reply

    def _pixels(self, reply: worker.Reply) -> np.ndarray:
        """The reply's pixels, after checking that it is one (a worker's reply is not trusted blindly)."""
        status, _retire, payload, shape = reply
        if status == worker.OVER_MEMORY:
            raise InvalidImageError(MEMORY_MESSAGE.format(self.budget.megabytes))
        if status != worker.OK:
            raise InvalidImageError(str(payload)[: worker.MAX_MESSAGE])
        well_formed = (
            isinstance(payload, bytes) and len(shape) == 3 and shape[2] in (1, 3, 4)
            and math.prod(shape) == len(payload) <= MAX_REPLY_BYTES
        )
        if not well_formed:
            raise InvalidImageError(CORRUPT_MESSAGE)
        return np.frombuffer(payload, np.uint8).reshape(shape)

    def close(self) -> None:
        """Stop the workers (a busy one after its call)."""
        for slot in self._slots:
            slot.executor.shutdown(wait=False, cancel_futures=True)


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


def _forget_pool_in_child() -> None:
    """A forked child (a training data loader, say) must not share its parent's workers, whose threads it does
    not have: it starts a pool of its own on first use."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


atexit.register(reset_default_pool)
os.register_at_fork(after_in_child=_forget_pool_in_child)


def run_bounded(decoder: Callable[..., np.ndarray], data: bytes, *args: Any) -> np.ndarray:
    """``decoder(data, *args)`` in a worker of the default pool, under its budget (see ``DecoderPool.run``)."""
    return default_pool().run(decoder, data, *args)
