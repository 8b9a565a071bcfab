"""The live trainer behind the "Train your own" page (app/logic/live_run.py, live_setup.py, training_queue.py):
runs learn, stop, fail with a message, queue up, leave, hit their time limit, and hand over a checkpoint that the
project's loader opens. Tiny networks on the bundled subset keep it fast; heartbeats and time limits run on a
fake clock that only the test moves, so no test waits for real seconds to pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.logic import live_run, training_queue
from app.logic.live_run import LEFT, LiveRun, one_epoch
from app.logic.live_setup import TrainingSettings, parse_hidden, training_data
from app.logic.training_queue import AlreadyTraining, TrainingQueue, slots_from_env
from models import load_classifier
from models.numpy_mlp import MLPConfig, NumpyMLP
from models.numpy_training import evaluate
from models.runtime import available_cores
from models.samples import load_digit_sample

TINY = TrainingSettings(hidden=(32,), epochs=2, batch_size=64)
LONG = replace(TINY, epochs=50)  # minutes of work: only ever stopped


@pytest.fixture
def subset(tmp_path: Path) -> Path:
    """A data directory without MNIST: runs train on the bundled subset."""
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def started_training(run: LiveRun) -> bool:
    return until(lambda: run.snapshot().progress > 0)


class FakeClock:
    """Seconds that pass only when the test says so; counts its reads, so a test can tell that a run has looked."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now, self.reads = now, 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def still_training(run: LiveRun, clock: FakeClock) -> bool:
    """The run has read the clock 20 more times (at least 9 more mini-batches, each checking the time) and
    still trains. A run that decides to stop reads it at most twice more, so this is False for one."""
    seen = clock.reads
    return until(lambda: clock.reads >= seen + 20 or not run.snapshot().active) and (
        run.snapshot().state == "running" and clock.reads >= seen + 20)


def test_a_short_run_learns(subset: Path) -> None:
    data = training_data(subset)
    untrained = evaluate(NumpyMLP(MLPConfig((784, 32, 10))), *data.val)["acc"]
    snap = LiveRun(TINY, "v", subset, alive=lambda: True).run_here()
    assert snap.state == "done" and snap.message == "Finished." and snap.progress == 1.0
    assert [row["epoch"] for row in snap.history] == [1, 2]
    assert untrained < 0.3 < 0.85 < snap.history[-1]["val_acc"]
    assert snap.test is not None and snap.test["n"] == 500 and snap.test["acc"] > 0.85
    assert snap.weights is not None and snap.weights.shape == (32, 28, 28)


def test_the_bundled_subset_is_balanced_read_only_and_shared(subset: Path) -> None:
    data = training_data(subset)
    assert [len(part[1]) for part in (data.train, data.val, data.test)] == [9000, 1000, 500]
    assert np.bincount(data.val[1], minlength=10).min() > 70  # every digit in the validation slice
    assert not data.train[0].flags.writeable and training_data(subset) is data
    assert "bundled subset" in data.name and "500 bundled" in data.test_name


@pytest.mark.slow  # reads the full MNIST from disk (~3 s)
def test_full_mnist_when_present(data_dir: Path) -> None:
    data = training_data(data_dir)
    assert [len(part[1]) for part in (data.train, data.val, data.test)] == [55000, 5000, 10000]
    assert "full MNIST" in data.name


def test_stop_mid_run(subset: Path) -> None:
    run = TrainingQueue(1).submit("v", LONG, subset)
    assert started_training(run)
    run.stop()
    assert run.wait(30)
    snap = run.snapshot()
    assert snap.state == "stopped" and snap.message == "Stopped." and snap.progress < 0.5
    assert run.classifier() is not None and snap.test is not None  # what it learned so far is kept


@pytest.mark.parametrize("change, message", [
    ({"hidden": (0,)}, "1 to 2,048 units"),
    ({"hidden": (64, 3000)}, "1 to 2,048 units"),
    ({"hidden": (8,) * 5}, "1 to 4 hidden layers"),
    ({"hidden": ()}, "1 to 4 hidden layers"),
    ({"lr": 1e9}, "learning rate"),
    ({"lr": 0.0}, "learning rate"),
    ({"lr": float("nan")}, "learning rate"),
    ({"batch_size": 0}, "batch size"),
    ({"epochs": 51}, "Epochs"),
    ({"l2": -1.0}, "L2"),
    ({"l2": float("inf")}, "L2"),
    ({"dropout": 1.0}, "Dropout"),
])
def test_broken_settings_are_refused_with_a_message(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(TINY, **change)


def test_parse_hidden() -> None:
    assert parse_hidden(" 256, 128 ") == (256, 128) and parse_hidden("64;32,") == (64, 32)
    for text in ("", "abc", "12.5", "-3"):
        with pytest.raises(ValueError, match="whole numbers separated by commas"):
            parse_hidden(text)


def test_nan_loss_ends_the_run_with_a_message(subset: Path, monkeypatch) -> None:
    monkeypatch.setattr(NumpyMLP, "loss", lambda self, logits, y: float("nan"))
    snap = LiveRun(TINY, "v", subset, alive=lambda: True).run_here()
    assert snap.state == "failed" and "NaN" in snap.message and "learning rate" in snap.message


def test_an_error_ends_the_run_with_a_message(subset: Path, monkeypatch) -> None:
    def broken(data_dir: Path | None = None) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(live_run, "training_data", broken)
    run = TrainingQueue(1).submit("v", TINY, subset)
    assert run.wait(30)
    assert run.snapshot().state == "failed" and run.snapshot().message == "Training failed: OSError: disk on fire"
    assert run.classifier() is None
    with pytest.raises(RuntimeError, match="no trained model"):
        run.checkpoint_bytes()


def test_the_queue_waits_in_order_and_one_run_per_visitor(subset: Path) -> None:
    queue = TrainingQueue(1)
    first, second, third = (queue.submit(v, LONG, subset) for v in ("a", "b", "c"))
    assert started_training(first)
    assert (second.snapshot().state, second.snapshot().position) == ("queued", 1)
    assert third.snapshot().position == 2 and "number 2 in the queue" in third.snapshot().message
    with pytest.raises(AlreadyTraining):
        queue.submit("b", TINY, subset)
    third.stop()  # leaving the queue
    assert third.snapshot().state == "stopped" and queue.counts() == (1, 1)
    first.stop()
    assert first.wait(30) and started_training(second)
    assert queue.counts() == (1, 0)
    second.stop()
    assert second.wait(30) and queue.counts() == (0, 0)
    again = queue.submit("a", LONG, subset)  # once a run has ended, its visitor may start another
    assert again.snapshot().state == "running"
    again.stop()
    assert again.wait(30)


def test_the_queue_never_runs_more_than_its_capacity(subset: Path) -> None:
    queue = TrainingQueue(2)
    runs = [queue.submit(str(i), LONG, subset) for i in range(5)]
    assert [run.snapshot().state for run in runs] == ["running"] * 2 + ["queued"] * 3
    assert [run.snapshot().position for run in runs] == [0, 0, 1, 2, 3] and queue.counts() == (2, 3)
    counts = []
    for run in runs:  # each run that ends lets the next one in: never more than two train
        run.stop()
        assert run.wait(30)
        counts.append(queue.counts())
    assert counts == [(2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]


def test_a_run_is_abandoned_once_its_heartbeat_has_passed_and_not_before() -> None:
    clock = FakeClock()
    run = LiveRun(TINY, "v", heartbeat_s=30, clock=clock)
    clock.advance(30)
    assert not run.abandoned()  # exactly the heartbeat since it was made
    clock.advance(0.5)
    assert run.abandoned()
    run.touch()
    clock.advance(30)
    assert not run.abandoned()  # a touch starts the heartbeat again

    def broken() -> bool:
        raise RuntimeError("no server")

    clock.advance(0.5)
    for alive, left in ((lambda: True, False), (lambda: False, True), (broken, True)):
        run.alive = alive  # the page's check that the session is still connected vouches, or not
        assert run.abandoned() is left


def test_a_run_nobody_watches_stops_when_its_heartbeat_passes_and_is_dropped(subset: Path) -> None:
    clock = FakeClock()
    queue = TrainingQueue(1, heartbeat_s=30, clock=clock)
    left = queue.submit("gone", LONG, subset)  # nobody touches it, and no session vouches for it
    watched = queue.submit("here", LONG, subset, alive=lambda: True)  # a connected session: kept
    assert started_training(left)
    clock.advance(30)
    assert still_training(left, clock)
    clock.advance(0.5)
    assert left.wait(30) and left.snapshot().state == "stopped" and left.snapshot().message == LEFT
    assert left.classifier() is None  # nobody will look at it: not measured, not kept
    assert queue.counts() == (1, 0) and started_training(watched)  # dropped: the next one trains
    clock.advance(500)  # past the heartbeat, within the time limit (600 s)
    assert still_training(watched, clock)
    watched.stop()
    assert watched.wait(30) and queue.counts() == (0, 0)


def test_touching_is_a_heartbeat(subset: Path) -> None:
    clock = FakeClock()
    run = TrainingQueue(1, heartbeat_s=30, clock=clock).submit("v", LONG, subset)
    assert started_training(run)
    for _ in range(3):  # 60 s in all, never more than 20 s without a touch
        clock.advance(20)
        run.touch()
    clock.advance(30)
    assert still_training(run, clock)
    clock.advance(0.5)
    assert run.wait(30) and run.snapshot().message == LEFT


def test_a_run_stops_at_its_time_limit_and_not_before(subset: Path) -> None:
    clock = FakeClock()
    run = TrainingQueue(1, time_limit_s=600, clock=clock).submit("v", LONG, subset, alive=lambda: True)
    assert started_training(run)
    clock.advance(600)
    assert still_training(run, clock)
    clock.advance(0.5)
    assert run.wait(30)
    snap = run.snapshot()
    assert snap.state == "stopped" and snap.message == "Stopped at the time limit of 10 minutes per run."
    assert snap.elapsed_s == 600.5 and snap.test is not None and run.classifier() is not None


def test_the_downloaded_checkpoint_loads_and_predicts_the_same(subset: Path, tmp_path: Path) -> None:
    run = LiveRun(TINY, "v", subset, alive=lambda: True)
    run.run_here()
    path = tmp_path / "mine.safetensors"
    path.write_bytes(run.checkpoint_bytes())
    loaded, live = load_classifier(path), run.classifier()
    images, _, _ = load_digit_sample()
    np.testing.assert_allclose(loaded.predict_proba(images), live.predict_proba(images), atol=1e-6)
    # The loader names a model by its kind (models/registry.py); the page calls the live one "Your MLP".
    assert (loaded.name, live.name) == ("NumPy MLP", "Your MLP") and loaded.class_names == [str(d) for d in range(10)]
    described = loaded.describe()
    assert described["training"]["hidden"] == [32] and described["training"]["epochs_done"] == 2
    assert described["metrics"]["test_acc"] == run.snapshot().test["acc"]
    assert "500 bundled" in described["metrics"]["test_set"]


def test_slots_from_env(monkeypatch) -> None:
    monkeypatch.delenv(training_queue.SLOTS_ENV, raising=False)
    assert slots_from_env() == available_cores()
    monkeypatch.setenv(training_queue.SLOTS_ENV, "3")
    assert slots_from_env() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(training_queue.SLOTS_ENV, bad)
        with pytest.raises(ValueError, match="whole number of runs"):
            slots_from_env()
    with pytest.raises(ValueError, match="at least 1 slot"):
        TrainingQueue(0)


def test_one_epoch_for_the_benchmarks(subset: Path) -> None:
    snap = one_epoch(subset)
    assert snap.state == "done" and len(snap.history) == 1 and snap.test["acc"] > 0.85
