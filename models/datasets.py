"""Where the datasets live on disk, and reading MNIST from there; nothing is downloaded unless asked.

The data directory is ``--data-dir`` if a command gives one, else ``$PLAYGROUND_DATA_DIR``, else ``./data``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATA_ENV = "PLAYGROUND_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")


class DataNotFoundError(RuntimeError):
    """The dataset is not where we looked; the message says where and what to do."""


def resolve_data_dir(arg: str | os.PathLike | None = None) -> Path:
    """``arg`` if given, else $PLAYGROUND_DATA_DIR, else ./data."""
    return Path(arg or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR)


def mnist_available(data_dir: Path) -> bool:
    """True when ``data_dir/MNIST/raw`` exists (the four IDX files torchvision reads)."""
    return (Path(data_dir) / "MNIST" / "raw").is_dir()


def load_mnist(data_dir: Path, train: bool, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST training (60,000) or test (10,000) split from ``data_dir/MNIST/raw``: uint8 (N, 28, 28), int64 (N,).

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
