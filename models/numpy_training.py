"""Training the NumPy MLP: shuffled mini-batches, augmentation, dropout, Adam with cosine decay. NumPy only.

Used by the training CLI (``python -m training.train numpy_mlp``) and by the app's live trainer, which
steps through ``train_steps`` one mini-batch at a time so it can show progress and stop at any moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from models.classifiers import DIGIT_CLASSES
from models.inputs import MNIST_MEAN, MNIST_STD, as_digit_batch, normalise_digits
from models.numpy_mlp import Adam, NumpyMLP


def flat_input(images: np.ndarray) -> np.ndarray:
    """Digits (N, 28, 28) under the input contract -> float32 (N, 784), standardised with MNIST's statistics."""
    return normalise_digits(as_digit_batch(images)).reshape(len(images), -1)


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` to 0 over ``total`` steps."""
    return 0.5 * base * (1 + np.cos(np.pi * min(step, total) / total))


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator, mode: str = "constant") -> np.ndarray:
    """Shift each image of (N, H, W) or (N, H, W, C) by its own random (dy, dx) in [-max_shift, max_shift]; the
    pixels moved in are 0 (``mode="constant"``, digits) or repeat the edge (``"edge"``, photos)."""
    if max_shift <= 0:
        return images
    n, h, w = images.shape[:3]
    pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift)) + ((0, 0),) * (images.ndim - 3)
    padded = np.pad(images, pad, mode=mode)
    dy = rng.integers(0, 2 * max_shift + 1, n)
    dx = rng.integers(0, 2 * max_shift + 1, n)
    rows = dy[:, None] + np.arange(h)  # (N, H)
    cols = dx[:, None] + np.arange(w)  # (N, W)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]  # any channels ride along


def shifted_digits(max_shift: int, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """The digits' ``prepare`` for ``train_steps``: digits (N, 28, 28) shifted at random, then flattened."""
    return lambda batch: flat_input(random_shift(batch, max_shift, rng))


def train_steps(
    model: NumpyMLP,
    optimizer: Adam,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    lr_at: Callable[[], float],
    prepare: Callable[[np.ndarray], np.ndarray],
) -> Iterator[tuple[int, float, int]]:
    """One shuffled pass, one mini-batch per step: yields (items, summed loss, correct answers) of each.

    Each mini-batch of ``images`` becomes augmented network inputs (N, sizes[0]) by ``prepare`` (for digits,
    ``shifted_digits``), is run with dropout and followed by one Adam step at the learning rate ``lr_at()``
    gives. Stop iterating to stop training.
    """
    order = rng.permutation(len(labels))
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start : start + batch_size])  # sorted: faster reads from a memory-mapped cache
        x, y = prepare(np.asarray(images[idx])), labels[idx]
        optimizer.lr = lr_at()
        loss, logits, grads = model.loss_and_grads(x, y, rng)
        optimizer.step(grads)
        yield len(y), loss * len(y), int((logits.argmax(1) == y).sum())


def evaluate(
    model: NumpyMLP, images: np.ndarray, labels: np.ndarray, classes: int = 10, batch_size: int = 1000,
    prepare: Callable[[np.ndarray], np.ndarray] = flat_input,
) -> dict[str, float]:
    """Loss and accuracy without dropout or augmentation; answers are the best of the first ``classes``
    outputs (an unknown output is never an answer here). ``prepare``: images -> network inputs (N, sizes[0]).
    Returns {"loss", "acc", "n"}."""
    total_loss = correct = 0.0
    for start in range(0, len(labels), batch_size):
        x, y = prepare(np.asarray(images[start : start + batch_size])), labels[start : start + batch_size]
        logits = model.forward(x)[0][-1]
        total_loss += model.loss(logits, y) * len(y)
        correct += float((logits[:, :classes].argmax(1) == y).sum())
    return {"loss": total_loss / len(labels), "acc": correct / len(labels), "n": len(labels)}


def checkpoint_meta(model: NumpyMLP, display_name: str, how: str, seed: int, training: dict[str, Any],
                    metrics: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint meta of a NumPy MLP digit classifier, as ``models.load_classifier`` reads it; ``how``
    finishes the architecture line, e.g. "hand-written backprop, Adam"."""
    return {
        "model_type": "numpy_mlp",
        "display_name": display_name,
        "architecture": f"{model.config.summary()} (NumPy, {how})",
        "config": asdict(model.config),
        "class_names": DIGIT_CLASSES,
        "normalization": {"mean": MNIST_MEAN, "std": MNIST_STD},
        "seed": seed,
        "training": training,
        "metrics": metrics,
    }


def predict_logits(model: NumpyMLP, images: np.ndarray, batch_size: int = 2000,
                   prepare: Callable[[np.ndarray], np.ndarray] = flat_input) -> np.ndarray:
    """The network's outputs for many inputs (digits unless ``prepare`` says how to flatten others), float32
    (N, outputs), in batches."""
    return np.concatenate([model.forward(prepare(np.asarray(images[s : s + batch_size])))[0][-1]
                           for s in range(0, len(images), batch_size)])
