"""MNIST for training: the full dataset through torchvision, split into train / validation / test.

Returns plain uint8 arrays (N, 28, 28) and int64 labels (N,), the input the classifiers take.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.common import DATA_ENV, DataNotFoundError, fail, resolve_data_dir

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel statistics of the MNIST training set (0..1 scale)
VALIDATION_SIZE = 5000  # the last 5,000 training digits are held out for per-epoch validation


def load_mnist(data_dir: Path, train: bool, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST training (60,000) or test (10,000) split from ``data_dir/MNIST/raw``.

    Raises DataNotFoundError with what to do when the files are not there (and cannot be downloaded).
    """
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(root=str(data_dir), train=train, download=download)
    except Exception as e:  # noqa: BLE001 - a missing file and a failed download need the same advice
        raise DataNotFoundError(
            f"MNIST was not found in {Path(data_dir, 'MNIST', 'raw').resolve()} ({type(e).__name__}: {e}). "
            f"Pass --download to fetch it (needs internet), or point --data-dir or ${DATA_ENV} at a folder "
            "that contains MNIST/raw/ with the four IDX files."
        ) from None
    return ds.data.numpy().astype(np.uint8), ds.targets.numpy().astype(np.int64)


def load_splits(
    data_dir: Path, download: bool = False, limit: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": 55,000, "val": last 5,000 training digits, "test": 10,000}, each cut to ``limit`` if given."""
    x, y = load_mnist(data_dir, train=True, download=download)
    xt, yt = load_mnist(data_dir, train=False, download=download)
    splits = {
        "train": (x[:-VALIDATION_SIZE], y[:-VALIDATION_SIZE]),
        "val": (x[-VALIDATION_SIZE:], y[-VALIDATION_SIZE:]),
        "test": (xt, yt),
    }
    if limit:
        splits = {k: (a[:limit], b[:limit]) for k, (a, b) in splits.items()}
    return splits


def splits_from_args(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """load_splits for a training CLI's --data-dir/--download/--limit, or exit with the data message."""
    try:
        return load_splits(resolve_data_dir(args.data_dir), args.download, args.limit)
    except DataNotFoundError as e:
        fail(str(e))
        raise  # unreachable: fail() exits
