"""Train the from-scratch NumPy MLP on MNIST: ``python -m training.train numpy_mlp``.

Hand-written forward/backward passes and Adam (models/numpy_mlp.py); torch is used only to read MNIST.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np

from models.classifiers import DIGIT_CLASSES
from models.inputs import MNIST_MEAN, MNIST_STD, as_digit_batch, normalise_digits
from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
from training.augment import random_shift
from training.cli import add_common_args, prepare_run
from training.mnist_data import splits_from_args
from training.runlog import log_epoch, progress, save_run, training_meta


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784), standardised with the MNIST mean and std."""
    return normalise_digits(as_digit_batch(images)).reshape(len(images), -1)


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` to 0 over ``total`` steps."""
    return 0.5 * base * (1 + np.cos(np.pi * min(step, total) / total))


def train_one_epoch(
    model: NumpyMLP,
    optimizer: Adam,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    max_shift: int,
    lr_at: object,
    show_progress: bool = True,
) -> dict[str, float]:
    """One shuffled pass with dropout and random shifts. ``lr_at()`` gives the next step's learning rate.

    Returns {"train_loss", "train_acc"} measured on the augmented mini-batches.
    """
    order = rng.permutation(len(labels))
    starts = range(0, len(order), batch_size)
    total_loss = correct = 0.0
    bar = progress(starts, "numpy_mlp", len(starts), show_progress)
    for start in bar:
        idx = order[start : start + batch_size]
        x = normalise(random_shift(images[idx], max_shift, rng))
        y = labels[idx]
        optimizer.lr = lr_at()  # type: ignore[operator]
        loss, logits, grads = model.loss_and_grads(x, y, rng)
        optimizer.step(grads)
        total_loss += loss * len(y)
        correct += float((logits.argmax(1) == y).sum())
        if hasattr(bar, "set_postfix"):
            seen = start + len(y)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return {"train_loss": total_loss / len(labels), "train_acc": correct / len(labels)}


def evaluate(model: NumpyMLP, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> dict[str, float]:
    """Loss and accuracy without dropout or augmentation. Returns {"loss", "acc", "n"}."""
    total_loss = correct = 0.0
    for start in range(0, len(labels), batch_size):
        x, y = normalise(images[start : start + batch_size]), labels[start : start + batch_size]
        logits = model.forward(x)[0][-1]
        total_loss += model.loss(logits, y) * len(y)
        correct += float((logits.argmax(1) == y).sum())
    return {"loss": total_loss / len(labels), "acc": correct / len(labels), "n": len(labels)}


def add_arguments(p: argparse.ArgumentParser, model: str = "numpy_mlp") -> None:
    add_common_args(p, model=model, epochs=30, batch_size=128, lr=1e-3, download=True)
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 256], help="hidden layer widths (default 512 256)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout on hidden units (default 0.2)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 coefficient lambda (default 0)")
    p.add_argument("--max-shift", type=int, default=2, help="random translation in pixels (default 2, 0 = off)")


def run(args: argparse.Namespace) -> None:
    prepare_run(args)
    data = splits_from_args(args)
    config = MLPConfig(sizes=(784, *args.hidden, 10), dropout=args.dropout, weight_decay=args.weight_decay)
    model = NumpyMLP(config, seed=args.seed)
    optimizer = Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = data["train"]
    total_steps = args.epochs * -(-len(y_train) // args.batch_size)
    step = iter(range(total_steps + 1))
    history: dict = {"model_type": "numpy_mlp", "epochs": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        record = train_one_epoch(
            model, optimizer, x_train, y_train, batch_size=args.batch_size, rng=rng, max_shift=args.max_shift,
            lr_at=lambda: cosine_lr(args.lr, next(step), total_steps), show_progress=not args.no_progress,
        )
        val = evaluate(model, *data["val"])
        log_epoch(history, epoch, args.epochs, record, val, t0)
    wall = time.perf_counter() - started
    test = evaluate(model, *data["test"])
    meta = {
        "model_type": "numpy_mlp",
        "display_name": "NumPy MLP",
        "architecture": config.summary() + " (NumPy, hand-written backprop, Adam)",
        "config": asdict(config),
        "class_names": DIGIT_CLASSES,
        "normalization": {"mean": MNIST_MEAN, "std": MNIST_STD},
        "seed": args.seed,
        "training": training_meta(args, wall, optimizer="Adam, cosine decay", max_shift=args.max_shift),
        "metrics": {"val_acc": history["epochs"][-1]["val_acc"], "test_acc": test["acc"], "test_loss": test["loss"]},
    }
    save_run(args.out, model.state_dict(), meta, history | {"test": test, "wall_time_s": wall})
