"""What a live training run is given, for the "Train your own" page: the visitor's settings (checked on
construction; a ValueError says what to fix) and the digits it trains on, loaded once per process and shared,
read-only, by every run. Never imports streamlit.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import load_mnist, mnist_available, resolve_data_dir
from models.samples import load_digit_sample, load_train_subset


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
