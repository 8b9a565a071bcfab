"""Training a NumPy MLP live, for the "Train your own" page: settings, one run in a background thread, and the
server-wide queue that lets at most one run per core train at a time. Never imports streamlit.

- ``TrainingSettings``: what a visitor chooses, checked on construction (ValueError says what to fix).
- ``LiveRun``: trains in a thread of its own with ``models.numpy_training`` and publishes a ``Snapshot``
  (state, queue position, progress, curves, first-layer weights) that the page polls; ``stop()`` ends it
  after the current mini-batch. A NaN or infinite loss, or any error, ends it as "failed" with a message.
- ``TrainingQueue``: admits at most ``capacity`` runs at once (``$PLAYGROUND_TRAINING_SLOTS``, default one
  per core), first come first served, one active run per visitor.

Leaving: Streamlit tells nobody when a browser tab closes, so a run has a heartbeat. The page ``touch()``es
its run on every rerun and every poll (once a second while it trains); a run not touched for
``heartbeat_s`` (30 s) whose ``alive`` check (the page passes one: is the Streamlit session still connected?)
does not vouch for it is stopped and dropped from the queue. A run also stops after ``time_limit_s`` (10
minutes), so a huge network cannot hold a core for hours. The datasets are loaded once per process and
shared, read-only, by every run; a run's optimiser state is dropped when it ends, and the trained model lives
as long as the page keeps the run (its session).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoint import save_checkpoint
from models.classifiers import DIGIT_CLASSES, NumpyDigitClassifier
from models.datasets import load_mnist, mnist_available, resolve_data_dir
from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
from models.numpy_training import checkpoint_meta, cosine_lr, evaluate, train_steps
from models.runtime import available_cores
from models.samples import load_digit_sample, load_train_subset

SLOTS_ENV = "PLAYGROUND_TRAINING_SLOTS"
ACTIVE = ("queued", "running")
PUBLISH_EVERY_S = 0.25  # the page polls once a second; publishing 4x as often keeps what it shows fresh
SHOWN_UNITS = 32  # first-layer units published as pictures


@dataclass(frozen=True)
class TrainingSettings:
    """A visitor's choices. Defaults reach about 98.5% on the MNIST test set in about 15 s on 2 cores."""

    hidden: tuple[int, ...] = (256, 128)
    lr: float = 2e-3
    batch_size: int = 128
    epochs: int = 10
    l2: float = 0.0
    dropout: float = 0.2
    max_shift: int = 1  # training digits are moved by up to 1 pixel at random (not a control: it just helps)
    seed: int = 0

    def __post_init__(self) -> None:
        def number(value: Any) -> float:
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan

        if not 1 <= len(self.hidden) <= 4:
            raise ValueError(f"Use 1 to 4 hidden layers; got {len(self.hidden)}.")
        if not all(isinstance(h, (int, np.integer)) and 1 <= h <= 2048 for h in self.hidden):
            raise ValueError(f"Each hidden layer needs 1 to 2,048 units; got {', '.join(map(str, self.hidden))}.")
        if not 0 < number(self.lr) <= 1:
            raise ValueError(f"The learning rate must be above 0 and at most 1 (try 0.002); got {self.lr:g}.")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096):
            raise ValueError(f"The batch size must be a whole number from 1 to 4,096; got {self.batch_size}.")
        if not (isinstance(self.epochs, int) and 1 <= self.epochs <= 50):
            raise ValueError(f"Epochs must be a whole number from 1 to 50; got {self.epochs}.")
        if not 0 <= number(self.l2) < math.inf:
            raise ValueError(f"L2 must be 0 or more (try 0 or 0.0001); got {self.l2:g}.")
        if not 0 <= number(self.dropout) < 1:
            raise ValueError(f"Dropout must be at least 0 and below 1 (try 0.2); got {self.dropout:g}.")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


def parse_hidden(text: str) -> tuple[int, ...]:
    """ "256, 128" -> (256, 128); ValueError with what to type for anything else."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"Hidden layers: type whole numbers separated by commas, e.g. 256, 128; got {text!r}.")
    return tuple(int(p) for p in parts)


# -- data ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingData:
    """Read-only uint8 digits (N, 28, 28) and int64 labels, and honest names for them."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    name: str  # what it trains on, for the page
    test_name: str  # what the test accuracy is measured on


def describe_data(data_dir: Path) -> str:
    """What a run would train on, without loading anything."""
    if mnist_available(data_dir):
        return "the full MNIST: 55,000 training digits, 5,000 more for validation"
    return "a bundled subset of MNIST: 9,000 training digits, 1,000 more for validation"


_DATA_LOCK = threading.Lock()


def training_data(data_dir: Path | None = None) -> TrainingData:
    """The full MNIST when ``data_dir`` (default: the project's data directory) has it, else the bundled subset.
    Loaded once per process and directory and shared by every run."""
    with _DATA_LOCK:  # two first runs at once load it once
        return _load_data(str(resolve_data_dir(data_dir)))


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False  # shared by concurrent runs: nobody may change them
    return arrays


@lru_cache(maxsize=2)
def _load_data(data_dir: str) -> TrainingData:
    if mnist_available(Path(data_dir)):
        x, y = load_mnist(Path(data_dir), train=True)
        xt, yt = load_mnist(Path(data_dir), train=False)
        held_out, test_name = 5000, "the MNIST test set (10,000 digits)"  # as the committed models: the last 5,000
    else:
        x, y, _ = load_train_subset()
        xt, yt, _ = load_digit_sample()
        held_out, test_name = 1000, "the 500 bundled MNIST test digits (the full test set is not on this server)"
    x, y, xt, yt = _read_only(x, y, xt, yt)
    return TrainingData((x[:-held_out], y[:-held_out]), (x[-held_out:], y[-held_out:]), (xt, yt),
                        describe_data(Path(data_dir)), test_name)


# -- one run ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """What the page shows, copied out of the training thread.

    history: one dict per finished epoch (epoch, train_loss, train_acc, val_loss, val_acc), then, while an
    epoch runs, one for it so far (a fractional epoch, train_* only). weights: the first SHOWN_UNITS hidden
    units' weights, float32 (units, 28, 28), or None before training starts.
    """

    state: str = "queued"  # queued | running | done | stopped | failed
    position: int = 0  # place in the queue, 1 = next; 0 once admitted
    progress: float = 0.0
    history: tuple[dict[str, float], ...] = ()
    weights: np.ndarray | None = None
    message: str = ""
    elapsed_s: float = 0.0
    test: dict[str, float] | None = None  # {"loss", "acc", "n"} once finished or stopped

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class Diverged(ArithmeticError):
    pass


class LiveRun:
    """One visitor's training run. Thread-safe: ``snapshot``, ``touch``, ``stop`` may be called from any thread."""

    def __init__(self, settings: TrainingSettings, visitor: str, data_dir: Path | None = None, *,
                 heartbeat_s: float = 30.0, time_limit_s: float = 600.0,
                 alive: Callable[[], bool] | None = None) -> None:
        self.settings, self.visitor, self.data_dir = settings, visitor, data_dir
        self.heartbeat_s, self.time_limit_s, self.alive = heartbeat_s, time_limit_s, alive
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._snap = Snapshot()
        self._seen = time.monotonic()
        self._model: NumpyMLP | None = None  # set once finished or stopped with usable weights
        self._classifier: NumpyDigitClassifier | None = None
        self._data_name = self._test_name = ""
        self.on_end: Callable[[LiveRun], None] = lambda run: None  # the queue's hook

    # -- for the page ----------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snap

    def touch(self) -> None:
        """The visitor is still here (the heartbeat)."""
        self._seen = time.monotonic()

    def stop(self) -> None:
        """Stop after the current mini-batch; a queued run ends at once."""
        self._stop.set()
        self._end("stopped", "Stopped before it started.", only_if=("queued",))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (True) or ``timeout`` passed (False)."""
        return self._ended.wait(timeout)

    def abandoned(self) -> bool:
        """Not touched for heartbeat_s, and the page's ``alive`` check (if any) does not vouch for the visitor."""
        if time.monotonic() - self._seen <= self.heartbeat_s:
            return False
        try:
            return not (self.alive is not None and self.alive())
        except Exception:  # noqa: BLE001 - a broken check must not keep a run alive forever
            return True

    def classifier(self) -> NumpyDigitClassifier | None:
        """"Your MLP", once the run finished or was stopped after some training; None otherwise."""
        with self._lock:
            if self._model is not None and self._classifier is None:
                self._classifier = NumpyDigitClassifier("Your MLP", DIGIT_CLASSES, self._meta(), self._model)
            return self._classifier

    def checkpoint_bytes(self) -> bytes:
        """The trained model in the project's checkpoint format (what ``models.load_classifier`` opens)."""
        clf = self.classifier()
        if clf is None:
            raise RuntimeError("this run has no trained model (it has not finished, or it failed)")
        with tempfile.TemporaryDirectory() as tmp:  # save_checkpoint writes a file (and a manifest) atomically
            return save_checkpoint(Path(tmp) / "your_mlp.safetensors", clf.model.state_dict(), clf.meta).read_bytes()

    def _meta(self) -> dict[str, Any]:
        snap = self._snap
        last = next((h for h in reversed(snap.history) if "val_acc" in h), {})
        training = {**asdict(self.settings), "optimizer": "Adam, cosine decay", "data": self._data_name,
                    "epochs_done": len([h for h in snap.history if "val_acc" in h]),
                    "wall_time_s": round(snap.elapsed_s, 2), "stopped_early": snap.state == "stopped"}
        metrics = {"val_acc": last.get("val_acc"), "test_acc": (snap.test or {}).get("acc"),
                   "test_set": self._test_name}
        return checkpoint_meta(self._model, "Your MLP", "trained live in the app", self.settings.seed, training,
                               metrics)

    # -- life cycle ------------------------------------------------------------------------------------------
    def _publish(self, **changes: Any) -> None:
        with self._lock:
            self._snap = replace(self._snap, **changes)

    def _end(self, state: str, message: str, only_if: tuple[str, ...] = ACTIVE) -> None:
        with self._lock:
            if self._snap.state not in only_if:
                return  # ended already (a stop racing the thread's own end), or started meanwhile
            self._snap = replace(self._snap, state=state, message=message, position=0)
        try:
            self.on_end(self)  # first: whoever waits for the end then finds the queue up to date
        finally:
            self._ended.set()

    def start(self) -> bool:
        """Train in a daemon thread (the queue calls this when a slot is free); False if it was stopped first."""
        with self._lock:
            if self._snap.state != "queued":
                return False
            self._snap = replace(self._snap, state="running", position=0, message="Loading the digits…")
        threading.Thread(target=self._thread_main, name=f"live-training-{self.visitor[:8]}", daemon=True).start()
        return True

    def _thread_main(self) -> None:
        _lower_thread_priority()
        self.run_here()

    def run_here(self) -> Snapshot:
        """Train in the calling thread until done, stopped or failed; returns the final snapshot."""
        started = time.monotonic()
        try:
            state, message = self._train(started)
        except Diverged as e:
            state, message = "failed", str(e)
        except MemoryError:
            state, message = "failed", "Not enough memory for this network: try fewer units or a smaller batch."
        except Exception as e:  # noqa: BLE001 - the page shows a message, never a traceback
            state, message = "failed", f"Training failed: {type(e).__name__}: {e}"
        self._publish(elapsed_s=time.monotonic() - started)
        self._end(state, message)
        return self.snapshot()

    def _train(self, started: float) -> tuple[str, str]:
        s = self.settings
        data = training_data(self.data_dir)
        self._data_name, self._test_name = data.name, data.test_name
        reason = self._why_stop(0.0)  # stopped, or left, while it waited or loaded
        if reason:
            return "stopped", reason
        x, y = data.train
        model = NumpyMLP(MLPConfig((784, *s.hidden, 10), s.dropout, s.l2), seed=s.seed)
        optimizer = Adam(model.parameters(), lr=s.lr)
        rng = np.random.default_rng(s.seed)
        steps_per_epoch = -(-len(y) // s.batch_size)
        total = s.epochs * steps_per_epoch
        step, history, published = 0, [], 0.0
        self._publish(message="Training…", weights=_first_layer(model))
        for epoch in range(1, s.epochs + 1):
            seen = loss_sum = correct = 0
            batches = train_steps(model, optimizer, x, y, batch_size=s.batch_size, rng=rng, max_shift=s.max_shift,
                                  lr_at=lambda: cosine_lr(s.lr, step, total))  # noqa: B023 - the current step
            for n, loss, right in batches:
                step, seen, loss_sum, correct = step + 1, seen + n, loss_sum + loss, correct + right
                if not math.isfinite(loss):
                    what = "infinite" if math.isinf(loss) else "NaN (not a number)"
                    raise Diverged(f"The loss became {what} in epoch {epoch}: the weights blew up. Try a smaller "
                                   "learning rate (0.002 works) or a smaller network.")
                now = time.monotonic()
                reason = self._why_stop(now - started)
                if reason:
                    return self._finish(model, data, history, "stopped", reason, started, test=reason != LEFT)
                if now - published >= PUBLISH_EVERY_S:
                    published = now
                    current = {"epoch": epoch - 1 + seen / len(y), "train_loss": loss_sum / seen,
                               "train_acc": correct / seen}
                    self._publish(progress=step / total, history=(*history, current), weights=_first_layer(model),
                                  elapsed_s=now - started)
                time.sleep(0)  # let the server's other threads (other visitors) have the GIL
            val = evaluate(model, *data.val)
            history.append({"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                            "val_loss": val["loss"], "val_acc": val["acc"]})
            self._publish(progress=step / total, history=tuple(history), weights=_first_layer(model),
                          elapsed_s=time.monotonic() - started)
        return self._finish(model, data, history, "done", "Finished.", started)

    def _why_stop(self, elapsed: float) -> str:
        if self._stop.is_set():
            return "Stopped."
        if self.abandoned():
            return LEFT
        if elapsed > self.time_limit_s:
            return f"Stopped at the time limit of {self.time_limit_s / 60:g} minutes per run."
        return ""

    def _finish(self, model: NumpyMLP, data: TrainingData, history: list[dict[str, float]], state: str,
                message: str, started: float, test: bool = True) -> tuple[str, str]:
        """Keep the model (without its optimiser) and measure it on the test set, unless nobody will look."""
        if test:
            result = evaluate(model, *data.test)
            self._publish(test=result, history=tuple(history), elapsed_s=time.monotonic() - started)
            with self._lock:
                self._model = model
        return state, message


LEFT = "Stopped: nobody was watching (the page was closed)."


def _first_layer(model: NumpyMLP) -> np.ndarray:
    """The first SHOWN_UNITS hidden units' weights as (units, 28, 28) pictures, a copy."""
    return np.ascontiguousarray(model.weights[0][:, :SHOWN_UNITS].T).reshape(-1, 28, 28)


def _lower_thread_priority() -> None:
    """On Linux a thread has its own nice value: training yields the CPU to threads serving visitors."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: train at normal priority
        pass


# -- the queue ----------------------------------------------------------------------------------------------
class AlreadyTraining(RuntimeError):
    """This visitor has a run queued or training."""


class TrainingQueue:
    """At most ``capacity`` runs train at once; the others wait, first come first served."""

    def __init__(self, capacity: int, heartbeat_s: float = 30.0, time_limit_s: float = 600.0) -> None:
        if capacity < 1:
            raise ValueError(f"the training queue needs at least 1 slot, got {capacity}")
        self.capacity, self.heartbeat_s, self.time_limit_s = capacity, heartbeat_s, time_limit_s
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
                          alive=alive)
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


def one_epoch(data_dir: Path | None = None) -> Snapshot:
    """One epoch of live training with the default settings, in the calling thread (for benchmarks): training,
    validation and the test evaluation. The first call also loads the data (cached afterwards)."""
    return LiveRun(replace(TrainingSettings(), epochs=1), "benchmark", data_dir, alive=lambda: True).run_here()
