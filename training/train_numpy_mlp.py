"""Train the from-scratch NumPy MLP on MNIST: ``python -m training.train numpy_mlp``.

Hand-written forward/backward passes and Adam (models/numpy_mlp.py), the training loop in
models/numpy_training.py; torch is used only to read MNIST. By default the network has an eleventh output,
"not a digit", trained on drawings that are not digits (training/digit_data.py), and its temperature and
"not a digit" threshold are fitted on validation data at the end (training/calibrate.py).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
from models.numpy_training import checkpoint_meta, cosine_lr, evaluate, predict_logits, shifted_digits, train_steps
from models.registry import BY_KEY
from training.cli import add_common_args, fail, prepare_run
from training.digit_data import add_data_args, calibrate_digits, data_from_args
from training.runlog import log_epoch, progress, save_run, training_meta


def train_one_epoch(model: NumpyMLP, optimizer: Adam, images: np.ndarray, labels: np.ndarray, *,
                    show_progress: bool = True, desc: str = "numpy_mlp", **settings) -> dict[str, float]:
    """One pass of ``models.numpy_training.train_steps`` (``settings``: batch_size, rng, lr_at, prepare) with a
    progress bar. Returns {"train_loss", "train_acc"} measured on the augmented
    mini-batches."""
    seen = total_loss = correct = 0.0
    steps = -(-len(labels) // settings["batch_size"])
    bar = progress(train_steps(model, optimizer, images, labels, **settings), desc, steps, show_progress)
    for n, loss, right in bar:
        seen, total_loss, correct = seen + n, total_loss + loss, correct + right
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return {"train_loss": total_loss / seen, "train_acc": correct / seen}


def add_arguments(p: argparse.ArgumentParser, model: str = "numpy_mlp") -> None:
    add_common_args(p, model=model, epochs=30, batch_size=128, lr=1e-3, download=True)
    p.add_argument("--hidden", type=int, nargs="+", default=[1024, 1024],
                   help="hidden layer widths (default 1024 1024)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout on hidden units (default 0.2)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 coefficient lambda (default 0)")
    p.add_argument("--max-shift", type=int, default=2, help="random translation in pixels (default 2, 0 = off)")
    add_data_args(p)


def run(args: argparse.Namespace) -> None:
    prepare_run(args)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        fail("the NumPy MLP trains in one process (it has no autograd and no collective operations): run it "
             "without torchrun")
    data = data_from_args(args)
    outputs = 11 if args.unknowns else 10
    config = MLPConfig(sizes=(784, *args.hidden, outputs), dropout=args.dropout, weight_decay=args.weight_decay)
    model = NumpyMLP(config, seed=args.seed)
    optimizer = Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = data.train
    total_steps = args.epochs * -(-len(y_train) // args.batch_size)
    step = iter(range(total_steps + 1))
    history: dict = {"model_type": "numpy_mlp", "epochs": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        record = train_one_epoch(
            model, optimizer, x_train, y_train, batch_size=args.batch_size, rng=rng,
            prepare=shifted_digits(args.max_shift, rng), lr_at=lambda: cosine_lr(args.lr, next(step), total_steps),
            show_progress=not args.no_progress,
        )
        log_epoch(history, epoch, args.epochs, record, evaluate(model, *data.val), t0)
    wall = time.perf_counter() - started
    test = evaluate(model, *data.test)
    training = training_meta(args, wall, optimizer="Adam, cosine decay", max_shift=args.max_shift,
                             unknowns=args.unknowns, turned_unknowns=data.turned, extra_data=data.extra,
                             train_items=int(len(y_train)))
    metrics = {"val_acc": history["epochs"][-1]["val_acc"], "test_acc": test["acc"], "test_loss": test["loss"]}
    meta = checkpoint_meta(model, BY_KEY["numpy_mlp"].name, "hand-written backprop, Adam", args.seed, training, metrics)
    if args.unknowns:
        meta |= calibrate_digits(lambda x: predict_logits(model, x), data)
    save_run(args.out, model.state_dict(), meta, history | {"test": test, "wall_time_s": wall})
