"""One visitor's live training run of a NumPy MLP, for the "Train your own" page. Never imports streamlit.

``LiveRun`` trains in a thread of its own with ``models.numpy_training`` and publishes a ``Snapshot`` (state,
queue position, progress, curves, first-layer weights) that the page polls; ``stop()`` ends it after the current
mini-batch. A NaN or infinite loss, or any error, ends it as "failed" with a message. Once it has ended, the
trained model is "Your MLP" (``classifier()``) and a checkpoint to download (``checkpoint_bytes()``). The queue
that starts runs is app/logic/training_queue.py; settings and data are app/logic/live_setup.py.

Leaving: Streamlit tells nobody when a browser tab closes, so a run has a heartbeat. The page ``touch()``es
its run on every rerun and every poll (once a second while it trains); a run not touched for
``heartbeat_s`` (30 s) whose ``alive`` check (the page passes one: is the Streamlit session still connected?)
does not vouch for it stops. A run also stops after ``time_limit_s`` (10 minutes), so a huge network cannot
hold a core for hours. Both are measured on the run's ``clock`` (``time.monotonic``; tests pass a fake one).
A run's optimiser state is dropped when it ends, and the trained model lives as long as the page keeps the run
(its session).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.logic.live_setup import TrainingData, TrainingSettings, training_data
from models.checkpoint import save_checkpoint
from models.classifiers import DIGIT_CLASSES, NumpyDigitClassifier
from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
from models.numpy_training import checkpoint_meta, cosine_lr, evaluate, shifted_digits, train_steps

ACTIVE = ("queued", "running")
PUBLISH_EVERY_S = 0.25  # the page polls once a second; publishing 4x as often keeps what it shows fresh
SHOWN_UNITS = 32  # first-layer units published as pictures


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
                 alive: Callable[[], bool] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings, self.visitor, self.data_dir = settings, visitor, data_dir
        self.heartbeat_s, self.time_limit_s, self.alive = heartbeat_s, time_limit_s, alive
        self.clock = clock  # seconds; heartbeats, the time limit and publishing read it (tests pass a fake one)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._snap = Snapshot()
        self._seen = clock()
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
        self._seen = self.clock()

    def stop(self) -> None:
        """Stop after the current mini-batch; a queued run ends at once."""
        self._stop.set()
        self._end("stopped", "Stopped before it started.", only_if=("queued",))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (True) or ``timeout`` passed (False)."""
        return self._ended.wait(timeout)

    def abandoned(self) -> bool:
        """Not touched for heartbeat_s, and the page's ``alive`` check (if any) does not vouch for the visitor."""
        if self.clock() - self._seen <= self.heartbeat_s:
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
        started = self.clock()
        try:
            state, message = self._train(started)
        except Diverged as e:
            state, message = "failed", str(e)
        except MemoryError:
            state, message = "failed", "Not enough memory for this network: try fewer units or a smaller batch."
        except Exception as e:  # noqa: BLE001 - the page shows a message, never a traceback
            state, message = "failed", f"Training failed: {type(e).__name__}: {e}"
        self._publish(elapsed_s=self.clock() - started)
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
            batches = train_steps(model, optimizer, x, y, batch_size=s.batch_size, rng=rng,
                                  prepare=shifted_digits(s.max_shift, rng),
                                  lr_at=lambda: cosine_lr(s.lr, step, total))  # noqa: B023 - the current step
            for n, loss, right in batches:
                step, seen, loss_sum, correct = step + 1, seen + n, loss_sum + loss, correct + right
                if not math.isfinite(loss):
                    what = "infinite" if math.isinf(loss) else "NaN (not a number)"
                    raise Diverged(f"The loss became {what} in epoch {epoch}: the weights blew up. Try a smaller "
                                   "learning rate (0.002 works) or a smaller network.")
                now = self.clock()
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
                          elapsed_s=self.clock() - started)
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
            self._publish(test=result, history=tuple(history), elapsed_s=self.clock() - started)
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


def one_epoch(data_dir: Path | None = None) -> Snapshot:
    """One epoch of live training with the default settings, in the calling thread (for benchmarks): training,
    validation and the test evaluation. The first call also loads the data (cached afterwards)."""
    return LiveRun(replace(TrainingSettings(), epochs=1), "benchmark", data_dir, alive=lambda: True).run_here()
