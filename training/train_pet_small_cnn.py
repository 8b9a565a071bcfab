"""Train the Small Pet CNN, the textbook network: ``python -m training.train pet_small_cnn``.

Four blocks of conv 3x3 -> ReLU -> max-pool and a linear head on 64 x 64 photos, as in the first
cats-vs-dogs tutorials: no BatchNorm, no residual connections, light augmentation (a flip, a little zoom
and shift), Adam with a one-cycle schedule. Next to the Pet MLP it shows what convolutions alone buy; next
to the Pet CNN, what depth, BatchNorm and strong augmentation add. Like the others it has a third output,
"neither", trained on photos of other things; the epoch that scores best on validation is kept, and its
temperature and "neither" threshold are fitted on the validation photos at the end.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch

from models.cnn import CNN, CNNConfig
from models.datasets import DataNotFoundError, resolve_data_dir
from training.augment import random_affine
from training.cli import add_common_args, fail, prepare_run
from training.pet_data import MEAN, PET_CLASSES, STD, add_pet_data_args, calibrate_pets, load_pet_data, pet_meta
from training.runlog import log_epoch, save_run, training_meta
from training.torch_loop import cpu_supports_bf16, evaluate, predict_logits, state_to_numpy, train_one_epoch


def make_prepare(generator: torch.Generator):
    """The batch function: uint8 (N, S, S, 3) -> normalised float (N, 3, S, S); training batches are flipped,
    zoomed by up to 15% and shifted by up to 6%, evaluation batches kept as they are."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def prepare(batch: np.ndarray, train: bool) -> torch.Tensor:
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)
        if train:
            x = random_affine(x, generator, scale=(1.0, 1.15), translate=0.06, flip=True, fill=0.45)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    return prepare


def add_arguments(p: argparse.ArgumentParser, model: str = "pet_small_cnn") -> None:
    add_common_args(p, model=model, epochs=20, batch_size=64, lr=2e-3, download=False)
    add_pet_data_args(p, 64)
    p.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128, 256],
                   help="conv widths, one conv per block (default 32 64 128 256)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout before the linear head (default 0.5)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=cpu_supports_bf16(),
                   help="bfloat16 autocast for training (default: on if the CPU has native bf16)")


def run(args: argparse.Namespace) -> None:
    prepare_run(args)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        fail("the Small Pet CNN trains in one process: run it without torchrun")
    try:
        data = load_pet_data(resolve_data_dir(args.data_dir), args.image_size, args.limit, args.unknowns)
    except DataNotFoundError as e:
        fail(str(e))
    print(data.summary(args.image_size), flush=True)
    (x_train, y_train), (x_val, y_val) = data.train, data.val
    config = CNNConfig(in_channels=3, image_size=args.image_size, channels=tuple(args.channels), convs_per_block=1,
                       head="flatten", dropout=args.dropout, num_classes=len(PET_CLASSES) + int(args.unknowns),
                       batch_norm=False)
    model = CNN(config).to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * -(-len(y_train) // args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    prepare = make_prepare(generator)
    rng = np.random.default_rng(args.seed)
    best: tuple[float, int, dict] = (-1.0, 0, {})
    history: dict = {"model_type": "pet_small_cnn", "epochs": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        record = train_one_epoch(
            model, x_train, y_train, order=rng.permutation(len(y_train)), prepare=prepare, optimizer=optimizer,
            scheduler=scheduler, batch_size=args.batch_size, bf16=args.bf16, desc="pet_small_cnn",
            show_progress=not args.no_progress,
        )
        val = evaluate(model, x_val, y_val, prepare=prepare, batch_size=500, classes=len(PET_CLASSES))
        log_epoch(history, epoch, args.epochs, record, val, t0)
        if val["acc"] > best[0]:
            best = (val["acc"], epoch, copy.deepcopy(model.state_dict()))
    wall = time.perf_counter() - started
    model.load_state_dict(best[2])
    model = model.to(memory_format=torch.contiguous_format)
    training = training_meta(
        args, wall, optimizer="AdamW, one-cycle", bf16=args.bf16, weight_decay=args.weight_decay,
        augmentation="flip, zoom 1-1.15, shift 6%", train_images=data.train_images, unknowns=args.unknowns,
        unknown_images=data.unknown_images,
    )
    # The epoch is chosen on val, so val_acc flatters a little; `python -m training.evaluate` reports test.
    meta = pet_meta("pet_small_cnn", config.summary() + " (PyTorch)", config, args.seed, training,
                    {"val_acc": best[0], "best_epoch": best[1]})
    if args.unknowns:
        meta |= calibrate_pets(lambda photos: predict_logits(model, photos, prepare=prepare), data)
    save_run(args.out, state_to_numpy(model), meta, history | {"wall_time_s": wall})
