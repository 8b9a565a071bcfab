"""Train the Pet CNN (cat, dog or neither), or fine-tune it (``--init``): ``python -m training.train pet_cnn``.

Photos are decoded once and cached (training/pet_data.py). Each training photo gets torchvision's random
resized crop (zoom and aspect), a flip, a colour jitter (or, with ``--colour trivialaugment``, TrivialAugment:
one random colour or geometry change of random strength), and is sometimes grey, blurred or re-encoded as a
low-quality JPEG, so that it looks more like phone and web photos than Kaggle's; half the batches CutMix.
Validation sees the plain resized photo, exactly as the app does. AdamW with a one-cycle schedule, label
smoothing, bf16 autocast where the CPU supports it. An exponential moving average of the weights is evaluated on the
validation photos after every epoch, and the one after the last epoch is kept: choosing the epoch by its
cat-vs-dog accuracy would favour the early epochs of a fine-tuning run, before "neither" has been learnt
from the new photos (the test set is only touched by evaluate).
Crops grow during training (progressive resizing, ``--sizes``): early epochs are cheap, and a network that
trained on crops a little smaller than it is used at sees objects at the size it learned them (Touvron et
al., "Fixing the train-test resolution discrepancy", 2019).

The network has a third output, "neither", trained on photos of other things (outlier exposure; the
non-pet photos of the training categories of Caltech-101 and, with ``--everyday``, of the everyday photos,
shown twice per epoch); its temperature and "neither" threshold are fitted on the validation photos at the
end (training/calibrate.py). The whole state is saved after every epoch: ``--resume`` goes on from the last
one (training/resume.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchvision.transforms import v2

from models import CheckpointError
from models.checkpoint import load_checkpoint, sha256_of
from models.cnn import CNN, CNNConfig
from models.datasets import DataNotFoundError, resolve_data_dir
from training.cli import add_common_args, fail, prepare_run
from training.distributed import join, leave, shard, wrap
from training.pet_data import MEAN, PET_CLASSES, STD, add_pet_data_args, calibrate_pets, load_pet_data, pet_meta
from training.resume import load_state, save_state, signature
from training.runlog import log_epoch, save_run, training_meta
from training.torch_loop import cpu_supports_bf16, evaluate, predict_logits, state_to_numpy, train_one_epoch

COLOUR = {  # --colour: how the colours (and, for TrivialAugment, also the geometry) of a training photo change
    "jitter": lambda: v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3),
    "trivialaugment": lambda: v2.TrivialAugmentWide(),  # one of 14 changes, at a random strength
}


def augmentation(size: int, colour: str = "jitter") -> v2.Compose:
    """One training photo, uint8 (3, S, S) -> an augmented uint8 (3, size, size); torchvision's transforms
    draw from torch's global random generator (seeded per epoch and process in ``run``)."""
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
        COLOUR[colour](),
        v2.RandomGrayscale(0.05),
        v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.2),
        v2.RandomApply([v2.JPEG((30, 95))], p=0.3),
    ])


def make_prepare(size: int, colour: str = "jitter"):
    """The batch function: uint8 (N, S, S, 3) -> normalised float (N, 3, s, s), channels-last in memory;
    training batches are augmented photo by photo and cropped to ``size``, evaluation batches kept as they are."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    augment = augmentation(size, colour)

    def prepare(batch: np.ndarray, train: bool) -> torch.Tensor:
        x = torch.from_numpy(batch).permute(0, 3, 1, 2)  # uint8 (N, 3, S, S)
        if train:
            x = torch.stack([augment(photo) for photo in x])
        x = x.float().div_(255)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    return prepare


def start_from(model: CNN, path: Path) -> dict:
    """Load a checkpoint's weights into ``model`` (fine-tuning) and say where they came from (for the meta);
    exits with a message if they do not fit."""
    try:
        tensors, meta = load_checkpoint(path)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    except (OSError, CheckpointError, RuntimeError) as e:
        fail(f"--init {path}: cannot start from it ({e})")
    earlier = meta.get("training", {})
    return {"checkpoint": Path(path).name, "sha256": sha256_of(path), "epochs": earlier.get("epochs"),
            "wall_time_s": earlier.get("wall_time_s"), "device": earlier.get("device")}


def add_arguments(p: argparse.ArgumentParser, model: str = "pet_cnn") -> None:
    add_common_args(p, model=model, epochs=36, batch_size=64, lr=2e-3, download=False)
    add_pet_data_args(p, 128)
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
    p.add_argument("--colour", choices=sorted(COLOUR), default="jitter",
                   help="colour changes of training photos: jitter (brightness, contrast, saturation +-30%%) or "
                   "trivialaugment (TrivialAugmentWide: one of 14 colour or geometry changes; default jitter)")
    p.add_argument("--everyday", action=argparse.BooleanOptionalAction, default=True,
                   help="also learn 'neither' from the everyday photos' training categories (default on)")
    p.add_argument("--flip-average", action=argparse.BooleanOptionalAction, default=True,
                   help="answer with the mean of the photo's and its mirror image's logits (test-time augmentation; "
                   "default on: on val it adds 0.55 points of accuracy to the fine-tuned model at twice the cost)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from this checkpoint's weights (same --channels and --image-size) and fine-tune "
                   "them, instead of from random weights (default: from scratch)")
    p.add_argument("--resume", action="store_true",
                   help="go on from the last epoch of an earlier run with the same flags (its state is in runs/)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=cpu_supports_bf16(),
                   help="bfloat16 autocast for training (default: on if the CPU has native bf16)")


def run(args: argparse.Namespace) -> None:
    prepare_run(args)
    world = join()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data_dir = resolve_data_dir(args.data_dir)
    t0 = time.perf_counter()
    try:
        data = load_pet_data(data_dir, args.image_size, args.limit, args.unknowns, args.everyday)
    except DataNotFoundError as e:
        fail(str(e))
    (x_train, y_train), (x_val, y_val) = data.train, data.val
    if world.main:
        print(f"{data.summary(args.image_size)} ({time.perf_counter() - t0:.1f}s to decode or read the cache)",
              flush=True)
    config = CNNConfig(in_channels=3, image_size=args.image_size, channels=tuple(args.channels), convs_per_block=2,
                       stem_stride=2, head="gap", dropout=args.dropout,
                       num_classes=len(PET_CLASSES) + int(args.unknowns), flip_average=args.flip_average)
    model = CNN(config)
    started_from = start_from(model, args.init) if args.init else None
    model = model.to(memory_format=torch.channels_last)
    generator = torch.Generator()  # CutMix's; torchvision's transforms draw from torch's global generator
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
    # it smooths the last steps' noise; the average after the last epoch is the one saved.
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    history: dict = {"model_type": "pet_cnn", "epochs": []}
    done, earlier_s = 0, 0.0  # epochs finished, and seconds spent on them, in earlier sittings
    if args.resume:
        state = load_state(args.out, args)
        for part, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler), ("average", average)):
            obj.load_state_dict(state[part])
        history, done, earlier_s = state["history"], state["epoch"], state["seconds"]
        if world.main:
            print(f"resuming after epoch {done} of {args.epochs}", flush=True)
    started = time.perf_counter()
    for epoch in range(done + 1, args.epochs + 1):
        t0 = time.perf_counter()
        # Every epoch seeds its own randomness (per process: each augments differently), so a resumed run
        # draws exactly what an uninterrupted one would.
        torch.manual_seed(args.seed + 1000 * epoch + world.rank)
        generator.manual_seed(args.seed + 1000 * epoch + world.rank)
        size = args.sizes[min((epoch - 1) * len(args.sizes) // args.epochs, len(args.sizes) - 1)]
        prepare = make_prepare(size, args.colour)
        record = train_one_epoch(
            trained, x_train, y_train, order=shard(len(y_train), epoch, args.seed, world), prepare=prepare,
            optimizer=optimizer, scheduler=scheduler, batch_size=batch_size, label_smoothing=args.label_smoothing,
            bf16=args.bf16, cutmix_prob=args.cutmix, generator=generator, average=average,
            desc=f"pet_cnn {size}px", show_progress=not args.no_progress and world.main,
        )
        if world.main:
            val = evaluate(average.module, x_val, y_val, prepare=prepare, batch_size=200, classes=len(PET_CLASSES))
            log_epoch(history, epoch, args.epochs, record | {"crop": size}, val, t0)
            save_state(args.out, {
                "args": signature(args), "epoch": epoch, "seconds": earlier_s + time.perf_counter() - started,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "average": average.state_dict(), "history": history,
            })
    wall = earlier_s + time.perf_counter() - started
    if not world.main:
        return leave()
    model.load_state_dict(average.module.state_dict())
    model = model.to(memory_format=torch.contiguous_format)
    prepare = make_prepare(args.image_size)
    val = evaluate(model, x_val, y_val, prepare=prepare, batch_size=200, classes=len(PET_CLASSES))  # as it answers
    training = training_meta(
        args, wall, optimizer="AdamW, one-cycle", label_smoothing=args.label_smoothing, bf16=args.bf16,
        augmentation=f"torchvision: random resized crop (scale 0.35-1, aspect 3/4-4/3), flip, {args.colour}, "
        f"grey 5%, blur 20%, JPEG 30-95 30%; CutMix on {args.cutmix:.0%} of batches",
        weight_average=f"EMA {args.ema}", crop_sizes=args.sizes, train_images=data.train_images,
        unknowns=args.unknowns, everyday=args.everyday, unknown_images=data.unknown_images, processes=world.size,
        started_from=started_from,
    )
    # The reported figure is the test accuracy, from `python -m training.evaluate`, measured once at the end.
    meta = pet_meta("pet_cnn", config.summary() + " (PyTorch)", config, args.seed, training,
                    {"val_acc": val["acc"]})
    if args.unknowns:
        meta |= calibrate_pets(lambda photos: predict_logits(model, photos, prepare=prepare), data)
    save_run(args.out, state_to_numpy(model), meta, history | {"wall_time_s": wall})
    leave()
