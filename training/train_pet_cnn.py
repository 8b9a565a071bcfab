"""Train the Pet CNN (cat, dog or neither) from scratch: ``python -m training.train pet_cnn``.

Photos are decoded once and cached (training/pet_data.py). Each mini-batch gets a random resized crop
(zoom, aspect, rotation, shift), a horizontal flip and colour jitter, and half the batches CutMix; validation
sees the plain resized photo, exactly as the app does. AdamW with a one-cycle schedule, label smoothing,
bf16 autocast where the CPU supports it. An exponential moving average of the weights is evaluated on the
validation photos after every epoch and the best one is kept (the test set is only touched by evaluate).
Crops grow during training (progressive resizing, ``--sizes``): early epochs are cheap, and a network that
trained on crops a little smaller than it is used at sees objects at the size it learned them (Touvron et
al., "Fixing the train-test resolution discrepancy", 2019).

The network has a third output, "neither", trained on photos of other things (outlier exposure; the
non-pet photos of the training categories, shown twice per epoch); its temperature and "neither" threshold
are fitted on the validation photos at the end (training/calibrate.py).
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import asdict

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from models.cnn import CNN, CNNConfig
from models.datasets import DataNotFoundError, resolve_data_dir
from models.registry import BY_KEY
from training.augment import color_jitter, random_affine
from training.cli import add_common_args, fail, prepare_run
from training.distributed import join, leave, shard, wrap
from training.pet_data import MEAN, PET_CLASSES, STD, calibrate_pets, load_pet_data
from training.runlog import log_epoch, save_run, training_meta
from training.torch_loop import cpu_supports_bf16, evaluate, predict_logits, state_to_numpy, train_one_epoch


def make_prepare(generator: torch.Generator, size: int):
    """The batch function: uint8 (N, S, S, 3) -> normalised float (N, 3, s, s), channels-last in memory;
    training batches are augmented and cropped to ``size``, evaluation batches kept as they are."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def prepare(batch: np.ndarray, train: bool) -> torch.Tensor:
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)
        if train:
            x = random_affine(x, generator, degrees=10, scale=(1.0, 1.6), aspect=(0.8, 1.25), translate=0.08,
                              flip=True, fill=0.45, size=size)
            x = color_jitter(x, generator, brightness=0.3, contrast=0.3, saturation=0.3)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    return prepare


def add_arguments(p: argparse.ArgumentParser, model: str = "pet_cnn") -> None:
    add_common_args(p, model=model, epochs=36, batch_size=64, lr=2e-3, download=False)
    p.add_argument("--image-size", type=int, default=128, help="side of the square network input (default 128)")
    p.add_argument("--sizes", type=int, nargs="+", default=[96, 112],
                   help="training crop sides, each for an equal share of the epochs, in order (default 96 112)")
    p.add_argument("--channels", type=int, nargs="+", default=[48, 96, 192, 384],
                   help="conv widths per block (default 48 96 192 384)")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout before the classifier (default 0.3)")
    p.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default 0.05)")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing (default 0.1)")
    p.add_argument("--cutmix", type=float, default=0.5, help="share of batches mixed by CutMix (default 0.5)")
    p.add_argument("--ema", type=float, default=0.998,
                   help="decay of the weights' moving average, per step (default 0.998)")
    p.add_argument("--unknowns", action=argparse.BooleanOptionalAction, default=True,
                   help="train a 'neither' output on photos that are neither cats nor dogs (default on)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=cpu_supports_bf16(),
                   help="bfloat16 autocast for training (default: on if the CPU has native bf16)")


def run(args: argparse.Namespace) -> None:
    prepare_run(args)
    world = join()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data_dir = resolve_data_dir(args.data_dir)
    t0 = time.perf_counter()
    try:
        data = load_pet_data(data_dir, args.image_size, args.limit, args.unknowns)
    except DataNotFoundError as e:
        fail(str(e))
    (x_train, y_train), (x_val, y_val) = data.train, data.val
    if world.main:
        print(f"{data.summary(args.image_size)} ({time.perf_counter() - t0:.1f}s to decode or read the cache)",
              flush=True)
    config = CNNConfig(in_channels=3, image_size=args.image_size, channels=tuple(args.channels), convs_per_block=2,
                       stem_stride=2, head="gap", dropout=args.dropout,
                       num_classes=len(PET_CLASSES) + int(args.unknowns))
    model = CNN(config).to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(args.seed + world.rank)  # each process augments differently
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]  # BatchNorm and biases
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    batch_size = args.batch_size // world.size  # per process: together, one step still sees --batch-size items
    steps = args.epochs * -(-len(y_train) // (batch_size * world.size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    trained = wrap(model, world)
    # An exponential moving average of the weights (and BatchNorm statistics) is what gets evaluated and kept:
    # it smooths the last steps' noise; the epoch whose average scores best on val is the one saved.
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    best: tuple[float, int, dict] = (-1.0, 0, {})
    history: dict = {"model_type": "pet_cnn", "epochs": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        size = args.sizes[min((epoch - 1) * len(args.sizes) // args.epochs, len(args.sizes) - 1)]
        prepare = make_prepare(generator, size)
        record = train_one_epoch(
            trained, x_train, y_train, order=shard(len(y_train), epoch, args.seed, world), prepare=prepare,
            optimizer=optimizer, scheduler=scheduler, batch_size=batch_size, label_smoothing=args.label_smoothing,
            bf16=args.bf16, cutmix_prob=args.cutmix, generator=generator, average=average,
            desc=f"pet_cnn {size}px", show_progress=not args.no_progress and world.main,
        )
        if world.main:
            val = evaluate(average.module, x_val, y_val, prepare=prepare, batch_size=200, classes=len(PET_CLASSES))
            log_epoch(history, epoch, args.epochs, record | {"crop": size}, val, t0)
            if val["acc"] > best[0]:
                best = (val["acc"], epoch, copy.deepcopy(average.module.state_dict()))
    wall = time.perf_counter() - started
    if not world.main:
        return leave()
    model.load_state_dict(best[2])
    model = model.to(memory_format=torch.contiguous_format)
    meta = {
        "model_type": "pet_cnn",
        "display_name": BY_KEY["pet_cnn"].name,
        "architecture": config.summary() + " (PyTorch)",
        "config": asdict(config),
        "class_names": PET_CLASSES,
        "normalization": {"mean": list(MEAN), "std": list(STD)},
        "seed": args.seed,
        "training": training_meta(
            args, wall, optimizer="AdamW, one-cycle", label_smoothing=args.label_smoothing, bf16=args.bf16,
            augmentation="random resized crop (zoom 1-1.6, aspect 0.8-1.25), rotate 10 deg, flip, colour jitter 0.3, "
            f"CutMix on {args.cutmix:.0%} of batches", weight_average=f"EMA {args.ema}",
            crop_sizes=args.sizes, train_images=data.train_images, unknowns=args.unknowns,
            unknown_images=data.unknown_images, processes=world.size,
        ),
        # The epoch is chosen on val, so val_acc flatters a little; the reported figure is the test accuracy,
        # from `python -m training.evaluate`, measured once at the end.
        "metrics": {"val_acc": best[0], "best_epoch": best[1]},
    }
    if args.unknowns:
        prepare = make_prepare(generator, args.image_size)
        meta |= calibrate_pets(lambda photos: predict_logits(model, photos, prepare=prepare), data)
    save_run(args.out, state_to_numpy(model), meta, history | {"wall_time_s": wall})
    leave()
