"""What the digit models learn from: MNIST, MNIST re-drawn like canvas strokes, and drawings that are not
digits (label ``NOT_A_DIGIT`` = 10, the models' extra "unknown" output).

MNIST alone teaches a network to call anything a digit; mixing in re-drawn digits teaches it what our canvas
makes of a digit, and outlier exposure (Hendrycks et al., 2019) on letters, other alphabets and doodles
teaches it to say "not a digit". Validation holds the same three kinds, for choosing the temperature and the
"not a digit" threshold; the test set stays MNIST's 10,000 digits, untouched.

``--extra-data`` adds the drawings visitors labelled in the app (feedback/), from the database or from its
exports: one in five, chosen by a hash of its pixels, is held out of training for ``training.evaluate``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from models.datasets import DataNotFoundError, load_mnist, resolve_data_dir
from training.cache import cached, parallel_map
from training.calibrate import calibrate
from training.cli import fail
from training.mnist_data import load_splits
from training.not_digits import not_digits, turned
from training.strokes import redraw

NOT_A_DIGIT = 10  # the unknown output's label: it comes after the ten digit classes
TURNED_UNKNOWNS = 60_000  # turned and mirrored copies of the training non-digits (training/not_digits.turned)
CACHE_VERSION = 1  # bump when the drawing code changes, so cached drawings are remade
HOLD_OUT_ONE_IN = 5  # one visitor drawing in five is kept out of training, for evaluating on drawings


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
    extra: dict | None = None  # --extra-data: {"source", "train_items", "held_out_items"}, for the meta
    turned: int = 0  # how many turned or mirrored non-digits ``train`` holds (training/not_digits.turned)


@dataclass(frozen=True)
class ExtraData:
    """Visitors' drawings, uint8 (N, 28, 28) with int64 labels 0-9 and NOT_A_DIGIT: those to train on and
    those held out."""

    train: tuple[np.ndarray, np.ndarray]
    held_out: tuple[np.ndarray, np.ndarray]


def add_data_args(p: argparse.ArgumentParser, turned_unknowns: int = TURNED_UNKNOWNS) -> None:
    """The digit CLIs' flags for what to learn from besides MNIST; ``turned_unknowns``: that flag's default
    (the shipped CNN was trained without turned copies, so its CLI defaults to 0)."""
    p.add_argument("--unknowns", action=argparse.BooleanOptionalAction, default=True,
                   help="train a 'not a digit' output on drawings that are not digits (default on)")
    p.add_argument("--turned-unknowns", type=int, default=turned_unknowns, metavar="N",
                   help="also train on N turned or mirrored copies of those drawings, still not digits "
                   f"(default {turned_unknowns:,}; at most five per drawing; 0 = none)")
    p.add_argument("--extra-data", metavar="SOURCE", default=None,
                   help="also train on visitors' drawings: a feedback database URL, or a folder written by "
                   "`python -m training.feedback export` (idx, plus imagefolder for 'not a digit'); one in five "
                   "is held out for `training.evaluate --extra-data`")


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
                    unknowns: bool = True, turned_unknowns: int = TURNED_UNKNOWNS) -> DigitData:
    """The data of a digit model; with ``unknowns=False`` plain MNIST (no drawings, no "not a digit").
    ``turned_unknowns``: how many turned or mirrored copies of the training non-digits to add."""
    splits = load_splits(data_dir, download, limit)
    (x, y), (xv, yv) = splits["train"], splits["val"]
    if not unknowns:
        empty = np.zeros((0, 28, 28), np.uint8)
        return DigitData((x, y), (xv, yv), splits["test"], empty, empty)
    drawn, foreign = redrawn(x, seed=0), unknown(data_dir, "train", limit)
    copies = turned(foreign, turned_unknowns, seed=0)
    foreign = np.concatenate([foreign, copies])
    train_x = np.concatenate([x, drawn, foreign])
    train_y = np.concatenate([y, y, np.full(len(foreign), NOT_A_DIGIT)])
    return DigitData((train_x, train_y), (xv, yv), splits["test"], redrawn(xv, seed=1),
                     unknown(data_dir, "val", limit), turned=len(copies))


def data_from_args(args: argparse.Namespace) -> DigitData:
    """load_digit_data for a training CLI's flags, with --extra-data's training slice, or exit with the
    data message."""
    try:
        data = load_digit_data(resolve_data_dir(args.data_dir), args.download, args.limit, args.unknowns,
                               args.turned_unknowns)
        if not args.extra_data:
            return data
        split = extra_data(args.extra_data)
    except DataNotFoundError as e:
        fail(str(e))
        raise  # unreachable: fail() exits
    x, y = split.train
    if not args.unknowns:  # a ten-output model has no place for "not a digit"
        x, y = x[y != NOT_A_DIGIT], y[y != NOT_A_DIGIT]
    extra = {"source": shown(args.extra_data), "train_items": len(y), "held_out_items": len(split.held_out[1])}
    return replace(data, train=(np.concatenate([data.train[0], x]), np.concatenate([data.train[1], y])), extra=extra)


def shown(source: str) -> str:
    """``source`` as a checkpoint's meta may record it: a database URL without its password."""
    if "://" not in source:
        return source
    from sqlalchemy.engine import make_url

    return make_url(source).render_as_string(hide_password=True)


def held_out(images: np.ndarray) -> np.ndarray:
    """bool (N,): which drawings stay out of training. Decided by a hash of each drawing's pixels, not its id
    or position: the same split from the database and from an export (which keeps no ids), whatever the
    --seed, unmoved by drawings added or deleted later, and a drawing saved twice never lands on both sides."""
    digests = (hashlib.sha256(image.tobytes()).digest() for image in images)
    return np.fromiter((int.from_bytes(d[:8], "big") % HOLD_OUT_ONE_IN == 0 for d in digests), bool, len(images))


def read_drawings(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The drawings of an export folder: ``MNIST/raw`` (``export --format idx``, labels 0-9, read like MNIST
    itself) and the ``not_a_digit/*.png`` of ``export --format imagefolder``, if there."""
    images, labels = [np.zeros((0, 28, 28), np.uint8)], [np.zeros(0, np.int64)]
    if (folder / "MNIST" / "raw").is_dir():
        x, y = load_mnist(folder, train=True)  # the store writes the same drawings as train and t10k
        images.append(x)
        labels.append(y)
    rejects = sorted((folder / "not_a_digit").glob("*.png"))  # feedback.LABEL_NAMES[10], without SQLAlchemy
    images += [np.asarray(Image.open(p).convert("L"))[None] for p in rejects]
    labels.append(np.full(len(rejects), NOT_A_DIGIT))
    return np.concatenate(images), np.concatenate(labels)


def extra_data(source: str) -> ExtraData:
    """Visitors' drawings from a database URL (anything with "://") or an export folder, split into the
    drawings to train on and the held-out ones. Raises DataNotFoundError when there are none."""
    if "://" in source:
        from feedback import FeedbackError, FeedbackStore  # SQLAlchemy and Alembic only when asked for

        # Through the store's own exports, so a database and an export folder are read by one reader.
        with FeedbackStore(source) as store, tempfile.TemporaryDirectory() as folder:
            try:
                store.export_idx(folder)
                store.export_imagefolder(folder)
            except FeedbackError as e:
                raise DataNotFoundError(str(e)) from None
            x, y = read_drawings(Path(folder))
    else:
        x, y = read_drawings(Path(source))
    if not len(y):
        raise DataNotFoundError(f"no drawings in {source}: pass a feedback database URL, or a folder written by "
                                "`python -m training.feedback export --format idx` (and --format imagefolder)")
    out = held_out(x)
    return ExtraData((x[~out], y[~out]), (x[out], y[out]))


def calibrate_digits(logits: Callable[[np.ndarray], np.ndarray], data: DigitData) -> dict:
    """The "calibration" and "unknown" meta of a digit model from its ``logits(images)`` on the validation
    sets: known = MNIST validation digits as scanned and re-drawn, unknown = validation non-digits."""
    known = np.concatenate([data.val[0], data.val_drawn])
    labels = np.concatenate([data.val[1], data.val[1]])
    return calibrate(logits(known), labels, logits(data.val_unknown), NOT_A_DIGIT,
                     "MNIST validation digits, as scanned and re-drawn as canvas strokes",
                     "validation drawings that are not digits")
