"""Train the Pet MLP, the from-scratch NumPy MLP on photos: ``python -m training.train pet_mlp``.

The same network, backprop and Adam as the digit MLP (models/numpy_mlp.py), on a photo shrunk to 32 x 32 and
read as one flat vector of 3,072 numbers. It has no idea that neighbouring pixels belong together, so it is
the baseline that shows what convolutions buy. It is helped as much as an MLP honestly can be: each
mini-batch is flipped, shifted and jittered in brightness and contrast, hidden units drop out, and Adam's
step decays on a cosine. Like the CNNs it has a third output, "neither", trained on photos of other things,
and its temperature and "neither" threshold are fitted on the validation photos at the end.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from models.datasets import DataNotFoundError, resolve_data_dir
from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
from models.numpy_training import cosine_lr, evaluate, predict_logits, random_shift
from training.cli import add_common_args, fail, prepare_run
from training.pet_data import MEAN, PET_CLASSES, STD, add_pet_data_args, calibrate_pets, load_pet_data, pet_meta
from training.runlog import log_epoch, save_run, training_meta
from training.train_numpy_mlp import train_one_epoch


def flat_photos(pixels: np.ndarray) -> np.ndarray:
    """Pixels (N, S, S, 3), uint8 or float 0..1 -> float32 (N, S*S*3), standardised per channel; the same
    arithmetic and order as models.photo_classifiers.PetMLPClassifier."""
    x = pixels.astype(np.float32) / np.float32(255.0) if pixels.dtype == np.uint8 else pixels
    return ((x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)).reshape(len(x), -1)


def augment(batch: np.ndarray, rng: np.random.Generator, max_shift: int, jitter: float) -> np.ndarray:
    """uint8 (N, S, S, 3) -> float32 (N, S, S, 3) in 0..1: each photo flipped left-right with probability 1/2,
    shifted by up to ``max_shift`` pixels (edges repeated), and its contrast and brightness scaled/shifted by
    up to ``jitter``."""
    n = len(batch)
    flipped = np.where((rng.random(n) < 0.5)[:, None, None, None], batch[:, :, ::-1], batch)
    x = random_shift(flipped, max_shift, rng, mode="edge").astype(np.float32) / np.float32(255.0)
    contrast = rng.uniform(1 - jitter, 1 + jitter, (n, 1, 1, 1)).astype(np.float32)
    brightness = rng.uniform(-jitter / 2, jitter / 2, (n, 1, 1, 1)).astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip((x - mean) * contrast + mean + brightness, 0.0, 1.0)


def add_arguments(p: argparse.ArgumentParser, model: str = "pet_mlp") -> None:
    add_common_args(p, model=model, epochs=60, batch_size=128, lr=1e-3, download=False)
    add_pet_data_args(p, 32)
    p.add_argument("--hidden", type=int, nargs="+", default=[1024, 512],
                   help="hidden layer widths (default 1024 512)")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout on hidden units (default 0.3)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 coefficient lambda (default 0)")
    p.add_argument("--max-shift", type=int, default=2, help="random shift in pixels (default 2, 0 = off)")
    p.add_argument("--jitter", type=float, default=0.2, help="brightness and contrast jitter (default 0.2)")


def run(args: argparse.Namespace) -> None:
    prepare_run(args)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        fail("the NumPy MLP trains in one process: run it without torchrun")
    try:
        data = load_pet_data(resolve_data_dir(args.data_dir), args.image_size, args.limit, args.unknowns)
    except DataNotFoundError as e:
        fail(str(e))
    print(data.summary(args.image_size), flush=True)
    (x_train, y_train), (x_val, y_val) = data.train, data.val
    sizes = (args.image_size**2 * 3, *args.hidden, len(PET_CLASSES) + int(args.unknowns))
    config = MLPConfig(sizes=sizes, dropout=args.dropout, weight_decay=args.weight_decay)
    model = NumpyMLP(config, seed=args.seed)
    optimizer = Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    total_steps = args.epochs * -(-len(y_train) // args.batch_size)
    step = iter(range(total_steps + 1))
    history: dict = {"model_type": "pet_mlp", "epochs": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        record = train_one_epoch(
            model, optimizer, x_train, y_train, batch_size=args.batch_size, rng=rng,
            prepare=lambda batch: flat_photos(augment(batch, rng, args.max_shift, args.jitter)),
            lr_at=lambda: cosine_lr(args.lr, next(step), total_steps), show_progress=not args.no_progress,
            desc="pet_mlp",
        )
        val = evaluate(model, x_val, y_val, classes=len(PET_CLASSES), prepare=flat_photos)
        log_epoch(history, epoch, args.epochs, record, val, t0)
    wall = time.perf_counter() - started
    training = training_meta(
        args, wall, optimizer="Adam, cosine decay", augmentation=f"flip, shift {args.max_shift}px, brightness "
        f"and contrast {args.jitter:g}", train_images=data.train_images, unknowns=args.unknowns,
        unknown_images=data.unknown_images,
    )
    # The last epoch is kept (no choosing on val); the reported figure is `python -m training.evaluate`'s.
    side = args.image_size
    architecture = f"{config.summary()} (NumPy, hand-written backprop, Adam), input {side}x{side}x3 flattened"
    meta = pet_meta("pet_mlp", architecture, config, args.seed, training,
                    {"val_acc": history["epochs"][-1]["val_acc"]})
    if args.unknowns:
        meta |= calibrate_pets(lambda photos: predict_logits(model, photos, prepare=flat_photos), data)
    save_run(args.out, model.state_dict(), meta, history | {"wall_time_s": wall})
