"""What a training run reports and leaves behind: progress bars, one line per epoch, the run's record in
the checkpoint's meta, and the checkpoint with its ``<stem>.history.json`` (per-epoch curves for the app).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.artifacts import history_path
from models.checkpoint import save_checkpoint, write_json_atomic
from models.runtime import machine_description


def progress(iterable: Iterable[Any], desc: str, total: int, enabled: bool = True) -> Iterator[Any]:
    """A tqdm bar (to stderr) over ``iterable``, or the bare iterable when disabled."""
    if not enabled:
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stderr))


def epoch_line(epoch: int, epochs: int, record: dict[str, float]) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)


def log_epoch(
    history: dict[str, Any], epoch: int, epochs: int, record: dict[str, float], val: dict[str, float], t0: float
) -> None:
    """Complete an epoch's training record with its validation loss/accuracy and seconds since ``t0``
    (a perf_counter time), append it to ``history["epochs"]`` and print it."""
    record |= {"epoch": epoch, "val_loss": val["loss"], "val_acc": val["acc"], "seconds": time.perf_counter() - t0}
    history["epochs"].append(record)
    print(epoch_line(epoch, epochs, record), flush=True)


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


def save_run(
    out: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any], history: dict[str, Any]
) -> None:
    """Write the checkpoint and its history beside it (both atomically), then print a summary."""
    save_checkpoint(out, tensors, meta)
    write_json_atomic(history_path(out), history)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in meta["metrics"].items() if isinstance(v, float))
    print(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB) and {history_path(out)}")
    print(f"{meta['display_name']}: {metrics}  ({meta['training']['wall_time_s']:.0f} s)")
