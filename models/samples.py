"""The small real samples bundled with the repository (samples/), for the app and the tests.

- ``samples/mnist_sample.npz``: 500 MNIST test digits (the first 50 of each class), uint8 (500, 28, 28),
  with labels and their indices in the MNIST test set.
- ``samples/mnist_train_subset.npz``: 10,000 MNIST training digits (the first 1,000 of each class, in a fixed
  shuffled order), with labels and their indices in the MNIST training set: what the live trainer learns
  from when the full MNIST is absent.
- ``samples/pets/<class>.<id>.jpg``: 5 validation photos of the cats-vs-dogs set, bytes unchanged.
All are rebuilt by ``python -m training.make_samples``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
DIGIT_SAMPLE = SAMPLES_DIR / "mnist_sample.npz"
TRAIN_SUBSET = SAMPLES_DIR / "mnist_train_subset.npz"
PET_DIR = SAMPLES_DIR / "pets"


def load_digit_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,), MNIST test-set indices int64 (N,))."""
    with np.load(DIGIT_SAMPLE, allow_pickle=False) as f:
        return f["images"], f["labels"].astype(np.int64), f["indices"].astype(np.int64)


def load_train_subset() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 (10000, 28, 28), labels int64 (10000,), MNIST training-set indices int64 (10000,))."""
    with np.load(TRAIN_SUBSET, allow_pickle=False) as f:
        return f["images"], f["labels"].astype(np.int64), f["indices"].astype(np.int64)


def pet_examples() -> list[tuple[Path, str]]:
    """[(path, class name)] of the bundled photos, sorted; the class is the file name's prefix."""
    return [(p, p.name.split(".")[0]) for p in sorted(PET_DIR.glob("*.jpg"))]
