"""MNIST for training, split into train / validation / test: uint8 (N, 28, 28) images, int64 (N,) labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.datasets import load_mnist

VALIDATION_SIZE = 5000  # the last 5,000 training digits are held out for per-epoch validation


def load_splits(
    data_dir: Path, download: bool = False, limit: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": 55,000, "val": the last 5,000 training digits, "test": 10,000}.

    ``limit`` cuts train and val to their first ``limit`` items; the test set always stays whole, so a
    figure called test accuracy is always measured on all 10,000 test digits.
    """
    x, y = load_mnist(data_dir, train=True, download=download)
    xt, yt = load_mnist(data_dir, train=False, download=download)
    limit = limit or None
    return {
        "train": (x[:-VALIDATION_SIZE][:limit], y[:-VALIDATION_SIZE][:limit]),
        "val": (x[-VALIDATION_SIZE:][:limit], y[-VALIDATION_SIZE:][:limit]),
        "test": (xt, yt),
    }
