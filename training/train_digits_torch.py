"""Train the PyTorch MLP or the digit CNN on MNIST: ``python -m training.train torch_mlp|digit_cnn``.

The MLP mirrors the NumPy one (same widths, dropout, random shifts, Adam with cosine decay), so the app
compares like with like. The CNN trains with random rotations/zooms/shifts, AdamW and a one-cycle schedule.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np
import torch

from models.classifiers import DIGIT_CLASSES
from models.cnn import CNN, CNNConfig
from models.inputs import MNIST_MEAN, MNIST_STD, as_digit_batch, normalise_digits
from models.numpy_mlp import MLPConfig
from models.numpy_training import random_shift
from models.registry import BY_KEY
from models.torch_mlp import TorchMLP
from training.augment import random_affine
from training.cli import add_common_args, prepare_run
from training.digit_data import TURNED_UNKNOWNS, add_data_args, calibrate_digits, data_from_args
from training.distributed import join, leave, shard, wrap
from training.runlog import log_epoch, save_run, training_meta
from training.torch_loop import cpu_supports_bf16, evaluate, predict_logits, state_to_numpy, train_one_epoch

MLP_DEFAULTS = dict(epochs=30, batch_size=128, lr=1e-3)  # what the shipped torch_mlp was trained with
CNN_DEFAULTS = dict(epochs=15, batch_size=128, lr=3e-3)  # ... and the shipped digit_cnn


def to_input(images: np.ndarray, flat: bool) -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalised float32 (N, 784) or (N, 1, 28, 28)."""
    x = torch.from_numpy(normalise_digits(as_digit_batch(images)))
    return x.reshape(len(x), -1) if flat else x.unsqueeze(1)


def make_prepare(model_name: str, max_shift: int, rng: np.random.Generator, generator: torch.Generator):
    """The batch function for train_one_epoch/evaluate: augment (train only), normalise, shape."""
    background = -MNIST_MEAN / MNIST_STD  # a black pixel after normalisation

    def prepare(batch: np.ndarray, train: bool) -> torch.Tensor:
        if model_name == "torch_mlp":
            return to_input(random_shift(batch, max_shift, rng) if train else batch, flat=True)
        x = to_input(batch, flat=False)
        if train:
            x = random_affine(x, generator, degrees=12, scale=(0.9, 1.1), translate=0.1, fill=background)
        return x

    return prepare


def add_arguments(p: argparse.ArgumentParser, model_name: str) -> None:
    add_common_args(p, model=model_name, download=True, **(MLP_DEFAULTS if model_name == "torch_mlp" else CNN_DEFAULTS))
    p.add_argument("--dropout", type=float, default=0.2 if model_name == "torch_mlp" else 0.3, help="dropout rate")
    p.add_argument("--weight-decay", type=float, default=0.0 if model_name == "torch_mlp" else 5e-4,
                   help="L2 (MLP) or decoupled weight decay (CNN)")
    if model_name == "torch_mlp":
        p.add_argument("--hidden", type=int, nargs="+", default=[1024, 1024], help="hidden widths (default 1024 1024)")
        p.add_argument("--max-shift", type=int, default=2, help="random translation in pixels (default 2)")
    else:
        p.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128], help="conv widths per block")
        p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=cpu_supports_bf16(),
                       help="bfloat16 autocast for training (default: on if the CPU has native bf16)")
    add_data_args(p, turned_unknowns=TURNED_UNKNOWNS if model_name == "torch_mlp" else 0)


def run(args: argparse.Namespace) -> None:
    model_name = args.model
    prepare_run(args)
    world = join()
    data = data_from_args(args)
    generator = torch.Generator().manual_seed(args.seed + world.rank)  # each process augments differently
    rng = np.random.default_rng(args.seed + world.rank)
    x_train, y_train = data.train
    batch_size = args.batch_size // world.size  # per process: together, one step still sees --batch-size items
    steps = args.epochs * -(-len(y_train) // (batch_size * world.size))
    outputs = 11 if args.unknowns else 10  # the ten digits, and "not a digit"
    if model_name == "torch_mlp":
        config: MLPConfig | CNNConfig = MLPConfig(sizes=(784, *args.hidden, outputs), dropout=args.dropout,
                                                  weight_decay=args.weight_decay)
        model: torch.nn.Module = TorchMLP(config)
        # Same optimiser as the NumPy MLP: Adam with L2 in the loss (here as coupled weight decay), cosine decay.
        groups = [
            {"params": [l.weight for l in model.layers], "weight_decay": args.weight_decay},
            {"params": [l.bias for l in model.layers], "weight_decay": 0.0},  # L2 on weights only, as in NumPy
        ]
        optimizer = torch.optim.Adam(groups, lr=args.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        model_type = "torch_mlp"
        extra = {"optimizer": "Adam, cosine decay", "max_shift": args.max_shift}
        bf16 = False
    else:
        config = CNNConfig(in_channels=1, image_size=28, channels=tuple(args.channels), dropout=args.dropout,
                           num_classes=outputs)
        model = CNN(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
        model_type = "digit_cnn"
        extra = {"optimizer": "AdamW, one-cycle", "augmentation": "rotate 12 deg, zoom 0.9-1.1, shift 10%",
                 "bf16": args.bf16}
        bf16 = args.bf16
    prepare = make_prepare(model_name, getattr(args, "max_shift", 0), rng, generator)
    trained = wrap(model, world)
    history: dict = {"model_type": model_type, "epochs": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        record = train_one_epoch(
            trained, x_train, y_train, order=shard(len(y_train), epoch, args.seed, world), prepare=prepare,
            optimizer=optimizer, scheduler=scheduler, batch_size=batch_size, bf16=bf16, desc=model_name,
            show_progress=not args.no_progress and world.main,
        )
        if world.main:
            log_epoch(history, epoch, args.epochs, record, evaluate(model, *data.val, prepare=prepare, classes=10), t0)
    wall = time.perf_counter() - started
    if not world.main:
        return leave()
    test = evaluate(model, *data.test, prepare=prepare, classes=10)
    meta = {
        "model_type": model_type,
        "display_name": BY_KEY[model_type].name,
        "architecture": config.summary() + " (PyTorch)",
        "config": asdict(config),
        "class_names": DIGIT_CLASSES,
        "normalization": {"mean": MNIST_MEAN, "std": MNIST_STD},
        "seed": args.seed,
        "training": training_meta(args, wall, **extra, unknowns=args.unknowns, turned_unknowns=data.turned,
                                  extra_data=data.extra, train_items=int(len(y_train)), processes=world.size),
        "metrics": {"val_acc": history["epochs"][-1]["val_acc"], "test_acc": test["acc"], "test_loss": test["loss"]},
        **(calibrate_digits(lambda x: predict_logits(model, x, prepare=prepare), data) if args.unknowns else {}),
    }
    save_run(args.out, state_to_numpy(model), meta, history | {"test": test, "wall_time_s": wall})
    leave()
