"""One classifier instance serves many sessions at once: 8 threads calling it together get exactly the
results a single thread gets. Also the server's torch thread settings (models/runtime.py).

Each thread works on its own inputs, in a different order from the others, many times over, so that calls
really overlap; a Barrier starts them together.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from models.runtime import THREADS_ENV, configure_torch_threads, default_torch_threads
from tests.conftest import ROOT

N_THREADS = 8
ROUNDS = 6


@pytest.fixture
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def hammer(call, inputs: list, rounds: int = ROUNDS) -> list[list]:
    """Run ``call(x)`` for every input from N_THREADS threads at once; returns each thread's results."""
    barrier = threading.Barrier(N_THREADS)
    # torch's intra-op thread count is per thread, and a different count changes the order of float sums
    # (results then differ in the last bits). Give every worker the caller's count, as the app gives every
    # session the same one (models.runtime), so that any difference left is a real race.
    threads = torch.get_num_threads()

    def worker(k: int) -> list:
        torch.set_num_threads(threads)
        barrier.wait()
        order = np.random.default_rng(k).permutation(len(inputs))
        out: list = [None] * len(inputs)
        for _ in range(rounds):
            for i in order:
                out[i] = call(inputs[i])
        return out

    with ThreadPoolExecutor(N_THREADS) as pool:
        return list(pool.map(worker, range(N_THREADS)))


@pytest.mark.slow
@pytest.mark.parametrize("key", ["numpy_mlp", "torch_mlp", "digit_cnn"])
def test_digit_classifier_thread_safe(digit_classifiers, digit_sample, key):
    model = digit_classifiers[key]
    images, _ = digit_sample
    inputs = [images[i : i + 1 + i % 5] for i in range(0, 60, 3)]  # batches of 1 to 5 digits
    expected = [model.predict_proba(x) for x in inputs]
    expected_acts = [model.activations(x) for x in inputs[:4]]
    for results in hammer(model.predict_proba, inputs):
        for got, want in zip(results, expected):
            assert np.array_equal(got, want)
    for results in hammer(model.activations, inputs[:4], rounds=2):
        for got, want in zip(results, expected_acts):
            assert list(got) == list(want)
            assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.slow
def test_pet_classifier_thread_safe(pet_classifier):
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 256, (40 + 7 * i, 60 + 5 * i, 3), dtype=np.uint8) for i in range(6)]
    expected = [pet_classifier.predict_proba([x]) for x in inputs]
    for results in hammer(lambda x: pet_classifier.predict_proba([x]), inputs, rounds=3):
        for got, want in zip(results, expected):
            assert np.array_equal(got, want)
    expected_cams = [pet_classifier.gradcam(x) for x in inputs[:3]]
    for results in hammer(pet_classifier.gradcam, inputs[:3], rounds=1):
        for got, want in zip(results, expected_cams):
            assert np.array_equal(got, want)


def test_thread_safety_check_detects_shared_state():
    """The harness itself can fail: a 'classifier' with a shared scratch buffer gives wrong answers."""
    scratch = np.zeros(100_000)

    def racy(x: float) -> float:
        scratch[:] = x
        total = 0.0
        for _ in range(50):  # give other threads time to overwrite the buffer
            total += float(scratch.sum())
        return total

    inputs = [float(i) for i in range(16)]
    expected = [racy(x) for x in inputs]
    mismatches = sum(got != want for results in hammer(racy, inputs, rounds=2) for got, want in zip(results, expected))
    assert mismatches > 0


def test_default_threads_scale_with_cores():
    assert [default_torch_threads(c) for c in (1, 2, 3, 4, 8, 16, 64)] == [1, 1, 1, 2, 4, 4, 4]


def test_configure_torch_threads(restore_torch_threads, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert configure_torch_threads() == default_torch_threads() == torch.get_num_threads()
    assert configure_torch_threads(3) == 3 == torch.get_num_threads()
    monkeypatch.setenv(THREADS_ENV, "2")
    assert configure_torch_threads() == 2 == torch.get_num_threads()
    assert configure_torch_threads() == 2  # idempotent: Streamlit reruns call it again and again


@pytest.mark.slow
def test_configure_asks_for_one_interop_thread():
    """torch sizes its inter-op pool once per process, before first use (by default one thread per core), so
    this runs in a fresh process: there, configure_torch_threads leaves exactly one."""
    code = ("import torch; from models.runtime import configure_torch_threads; "
            "configure_torch_threads(2); print(torch.get_num_interop_threads(), torch.get_num_threads())")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1", "2"]


@pytest.mark.parametrize("bad", ["many", "0", "-1"])
def test_configure_torch_threads_rejects_bad_env(restore_torch_threads, monkeypatch, bad):
    monkeypatch.setenv(THREADS_ENV, bad)
    with pytest.raises(ValueError):
        configure_torch_threads()


def test_configure_applies_to_each_session_thread(restore_torch_threads):
    """torch's thread count is per calling thread: each Streamlit script thread must (and can) set its own,
    and doing so from many threads at once is safe."""

    def session(_: int) -> int:
        configure_torch_threads(2)
        return torch.get_num_threads()

    torch.set_num_threads(1)
    with ThreadPoolExecutor(N_THREADS) as pool:
        assert set(pool.map(session, range(32))) == {2}
