"""The server-wide queue of live training runs: at most ``capacity`` runs train at once
(``$PLAYGROUND_TRAINING_SLOTS``, default one per core), first come first served, one active run per visitor.
A run that ends (done, stopped, failed, or left: see app/logic/live_run.py) leaves the queue and the next one
starts. Never imports streamlit.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from app.logic.live_run import LiveRun
from app.logic.live_setup import TrainingSettings
from models.runtime import available_cores

SLOTS_ENV = "PLAYGROUND_TRAINING_SLOTS"


class AlreadyTraining(RuntimeError):
    """This visitor has a run queued or training."""


class TrainingQueue:
    """At most ``capacity`` runs train at once; the others wait, first come first served."""

    def __init__(self, capacity: int, heartbeat_s: float = 30.0, time_limit_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"the training queue needs at least 1 slot, got {capacity}")
        self.capacity, self.heartbeat_s, self.time_limit_s = capacity, heartbeat_s, time_limit_s
        self.clock = clock  # every run's clock (seconds): heartbeats and time limits
        self._lock = threading.RLock()  # runs that end while it admits others call back in
        self._running: list[LiveRun] = []
        self._waiting: deque[LiveRun] = deque()

    def submit(self, visitor: str, settings: TrainingSettings, data_dir: Path | None = None,
               alive: Callable[[], bool] | None = None) -> LiveRun:
        """Queue a run for ``visitor`` (it starts at once if a slot is free). Raises AlreadyTraining."""
        with self._lock:
            if any(r.visitor == visitor for r in (*self._running, *self._waiting)):
                raise AlreadyTraining("You already have a run going: stop it first.")
            run = LiveRun(settings, visitor, data_dir, heartbeat_s=self.heartbeat_s, time_limit_s=self.time_limit_s,
                          alive=alive, clock=self.clock)
            run.on_end = self._ended
            self._waiting.append(run)
            self._admit()
            return run

    def counts(self) -> tuple[int, int]:
        """(runs training, runs waiting)."""
        with self._lock:
            return len(self._running), len(self._waiting)

    def _ended(self, run: LiveRun) -> None:
        with self._lock:
            if run in self._running:
                self._running.remove(run)
            elif run in self._waiting:
                self._waiting.remove(run)
            self._admit()

    def _admit(self) -> None:
        """Start waiting runs while slots are free, and number the rest. A run whose visitor left starts too:
        it ends itself before training, which keeps this path simple."""
        while self._waiting and len(self._running) < self.capacity:
            run = self._waiting.popleft()
            self._running.append(run)
            if not run.start():  # stopped meanwhile
                self._running.remove(run)
        for place, run in enumerate(self._waiting, 1):
            run._publish(position=place, message=f"Waiting for a free slot: you are number {place} in the queue.")


def slots_from_env() -> int:
    """$PLAYGROUND_TRAINING_SLOTS, else one per core this process may use."""
    text = os.environ.get(SLOTS_ENV, "").strip()
    if not text:
        return available_cores()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"${SLOTS_ENV} must be a whole number of runs, at least 1; got {text!r}")
    return int(text)


_QUEUE: TrainingQueue | None = None
_QUEUE_LOCK = threading.Lock()


def training_queue() -> TrainingQueue:
    """The one queue of this server process (every session shares it)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = TrainingQueue(slots_from_env())
        return _QUEUE
