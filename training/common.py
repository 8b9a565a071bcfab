"""What every training CLI shares: flags, data-directory resolution, seeding, progress bars, histories.

A training run writes ``<out>`` (the checkpoint, atomically) and ``<out stem>.history.json`` beside it:
per-epoch train/validation loss and accuracy, for the training curves in the app.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.checkpoint import save_checkpoint, write_json_atomic

DATA_ENV = "PLAYGROUND_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")


class DataNotFoundError(RuntimeError):
    """The dataset is not where we looked; the message says where and what to do."""


def resolve_data_dir(arg: str | None) -> Path:
    """--data-dir if given, else $PLAYGROUND_DATA_DIR, else ./data."""
    return Path(arg or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR)


def add_common_args(p: argparse.ArgumentParser, *, epochs: int, batch_size: int, lr: float, out: str) -> None:
    p.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training set (default {epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"mini-batch size (default {batch_size})")
    p.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default {lr})")
    p.add_argument("--seed", type=int, default=0, help="random seed for initialisation, shuffling, augmentation")
    p.add_argument(
        "--data-dir",
        default=None,
        help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)",
    )
    p.add_argument("--download", action="store_true", help="download the dataset if missing (needs internet)")
    p.add_argument("--out", default=out, help=f"checkpoint to write (default {out})")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training and evaluation items")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="smoke test: 1 epoch on 256 items (unless --limit/--epochs say otherwise)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def apply_dry_run(args: argparse.Namespace) -> None:
    """--dry-run: one epoch on a few hundred items, so tests finish in seconds."""
    if args.dry_run:
        args.limit = args.limit or 256
        args.epochs = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def progress(iterable: Iterable[Any], desc: str, total: int, enabled: bool = True) -> Iterator[Any]:
    """A tqdm bar (to stderr) over ``iterable``, or the bare iterable when disabled."""
    if not enabled:
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stderr))


def history_path(checkpoint: str | os.PathLike) -> Path:
    """checkpoints/x.safetensors -> checkpoints/x.history.json."""
    p = Path(checkpoint)
    return p.with_name(p.name.split(".")[0] + ".history.json")


def eval_path(checkpoint: str | os.PathLike) -> Path:
    """checkpoints/x.safetensors -> checkpoints/x.eval.json (the saved ``python -m training.evaluate --save``)."""
    p = Path(checkpoint)
    return p.with_name(p.name.split(".")[0] + ".eval.json")


def write_history(checkpoint: str | os.PathLike, history: dict[str, Any]) -> Path:
    path = history_path(checkpoint)
    write_json_atomic(path, history)
    return path


def fail(message: str) -> None:
    """Stop a CLI with one clear message and exit status 2, no traceback."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def epoch_line(epoch: int, epochs: int, record: dict[str, float]) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, e.g. "Intel(R) Xeon(R) Processor"."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine_description() -> str:
    """E.g. "CPU: Intel(R) Xeon(R) Processor, 2 threads" (where training ran, for describe())."""
    return f"CPU: {cpu_name()}, {len(os.sched_getaffinity(0))} threads"


def training_meta(args: argparse.Namespace, wall_time_s: float, **extra: Any) -> dict[str, Any]:
    """The "training" section of a checkpoint's meta: the flags that shaped the run, and its cost."""
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "limit": args.limit,
        "wall_time_s": round(wall_time_s, 1),
        "device": machine_description(),
        **extra,
    }


def log_epoch(
    history: dict[str, Any], epoch: int, epochs: int, record: dict[str, float], val: dict[str, float], t0: float
) -> None:
    """Complete an epoch's training record with its validation loss/accuracy and seconds since ``t0``
    (a perf_counter time), append it to ``history["epochs"]`` and print it."""
    record |= {"epoch": epoch, "val_loss": val["loss"], "val_acc": val["acc"], "seconds": time.perf_counter() - t0}
    history["epochs"].append(record)
    print(epoch_line(epoch, epochs, record), flush=True)


def save_run(
    out: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any], history: dict[str, Any]
) -> None:
    """Write the checkpoint and its history beside it (both atomically), then print a summary."""
    save_checkpoint(out, tensors, meta)
    write_history(out, history)
    report(out, meta)


def report(out: str | os.PathLike, meta: dict[str, Any]) -> None:
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in meta["metrics"].items() if isinstance(v, float))
    print(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB) and {history_path(out)}")
    print(f"{meta['display_name']}: {metrics}  ({meta['training']['wall_time_s']:.0f} s)")
