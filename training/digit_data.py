"""What the digit models learn from: MNIST, MNIST re-drawn like canvas strokes, and drawings that are not
digits (label ``NOT_A_DIGIT`` = 10, the models' extra "reject" output).

MNIST alone teaches a network to call anything a digit; mixing in re-drawn digits teaches it what our canvas
makes of a digit, and outlier exposure (Hendrycks et al., 2019) on letters, other alphabets and doodles
teaches it to say "not a digit". Validation holds the same three kinds, for choosing the temperature and the
"not a digit" threshold; the test set stays MNIST's 10,000 digits, untouched.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.datasets import DataNotFoundError, resolve_data_dir
from training.cache import cached, parallel_map
from training.calibrate import calibrate
from training.cli import fail
from training.mnist_data import load_splits
from training.not_digits import not_digits
from training.strokes import redraw

NOT_A_DIGIT = 10  # the reject output's label: it comes after the ten digit classes
CACHE_VERSION = 1  # bump when the drawing code changes, so cached drawings are remade


@dataclass(frozen=True)
class DigitData:
    """train: (uint8 (N, 28, 28), int64 (N,)) with labels 0-9 and NOT_A_DIGIT; val and test: MNIST digits
    only (raw), for the per-epoch curves and the reported accuracy; val_drawn / val_unknown: validation digits
    re-drawn as canvas strokes, and validation drawings that are not digits (uint8 (N, 28, 28))."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    val_drawn: np.ndarray
    val_unknown: np.ndarray


def _redraw_chunk(args: tuple[np.ndarray, int]) -> np.ndarray:
    return redraw(*args)


def redrawn(images: np.ndarray, seed: int) -> np.ndarray:
    """MNIST digits re-drawn as canvas strokes (training/strokes.py), in parallel, cached by content."""
    chunks = [(images[i : i + 2000], seed + i) for i in range(0, len(images), 2000)]
    return cached("mnist-redrawn", (CACHE_VERSION, seed, len(images), images[:: max(1, len(images) // 64)].tobytes()),
                  lambda: np.concatenate(parallel_map(_redraw_chunk, chunks, chunksize=1)))


def unknown(data_dir: Path, split: str, limit: int | None) -> np.ndarray:
    """Every not-a-digit drawing of ``split`` in one array (at most ``limit`` of each source), cached."""
    def make() -> np.ndarray:
        return np.concatenate([images[:limit] for images in not_digits(data_dir, split, limit).values()])

    return cached(f"not-digits-{split}", (CACHE_VERSION, str(Path(data_dir).resolve()), limit), make)


def load_digit_data(data_dir: Path, download: bool = False, limit: int | None = None,
                    outliers: bool = True) -> DigitData:
    """The data of a digit model; with ``outliers=False`` plain MNIST (no drawings, no "not a digit")."""
    splits = load_splits(data_dir, download, limit)
    (x, y), (xv, yv) = splits["train"], splits["val"]
    if not outliers:
        empty = np.zeros((0, 28, 28), np.uint8)
        return DigitData((x, y), (xv, yv), splits["test"], empty, empty)
    drawn, foreign = redrawn(x, seed=0), unknown(data_dir, "train", limit)
    train_x = np.concatenate([x, drawn, foreign])
    train_y = np.concatenate([y, y, np.full(len(foreign), NOT_A_DIGIT)])
    return DigitData((train_x, train_y), (xv, yv), splits["test"], redrawn(xv, seed=1),
                     unknown(data_dir, "val", limit))


def data_from_args(args: argparse.Namespace) -> DigitData:
    """load_digit_data for a training CLI's flags, or exit with the data message."""
    try:
        return load_digit_data(resolve_data_dir(args.data_dir), args.download, args.limit, args.outliers)
    except DataNotFoundError as e:
        fail(str(e))
        raise  # unreachable: fail() exits


def calibrate_digits(logits: Callable[[np.ndarray], np.ndarray], data: DigitData) -> dict:
    """The "calibration" and "unknown" meta of a digit model from its ``logits(images)`` on the validation
    sets: known = MNIST validation digits as scanned and re-drawn, unknown = validation non-digits."""
    known = np.concatenate([data.val[0], data.val_drawn])
    labels = np.concatenate([data.val[1], data.val[1]])
    return calibrate(logits(known), labels, logits(data.val_unknown), NOT_A_DIGIT,
                     "MNIST validation digits, as scanned and re-drawn as canvas strokes",
                     "validation drawings that are not digits")
