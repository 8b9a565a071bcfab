"""The command line every training CLI shares: common flags, --dry-run, where the checkpoint may be written,
seeding, and stopping with one clear message.

Shipped checkpoints are safe by default: ``--out`` defaults to ``runs/<model>.safetensors`` (git-ignored);
replacing a checkpoint listed in its folder's MANIFEST.json needs ``--force`` (except in ``runs/``, the scratch
folder, where a run replaces the one before it), and a ``--dry-run`` or ``--limit`` run never writes into the
shipped ``checkpoints/`` folder at all.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from models.checkpoint import CheckpointError, read_manifest
from models.datasets import DATA_ENV

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints"
RUNS = Path("runs")


def add_common_args(
    p: argparse.ArgumentParser, *, model: str, epochs: int, batch_size: int, lr: float, download: bool
) -> None:
    """The flags of every training CLI. ``download``: whether this dataset can be fetched (MNIST can)."""
    p.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training set (default {epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"mini-batch size (default {batch_size})")
    p.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default {lr})")
    p.add_argument("--seed", type=int, default=0, help="random seed for initialisation, shuffling, augmentation")
    p.add_argument("--data-dir", default=None, help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)")
    if download:
        p.add_argument("--download", action="store_true", help="download the dataset if missing (needs internet)")
    p.add_argument(
        "--out",
        default=str(RUNS / f"{model}.safetensors"),
        help=f"checkpoint to write (default runs/{model}.safetensors; the app reads checkpoints/, see --force)",
    )
    p.add_argument("--force", action="store_true",
                   help="allow replacing a checkpoint listed in its folder's MANIFEST.json (updates the manifest); "
                   "not needed in runs/")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training and validation items (the test set stays whole)")
    p.add_argument("--dry-run", action="store_true",
                   help="smoke test: 1 epoch on 256 items (unless --limit/--epochs say otherwise); never writes "
                   "into checkpoints/")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def fail(message: str) -> None:
    """Stop a CLI with one clear message and exit status 2, no traceback."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def check_out(out: Path, force: bool, small_run: bool) -> None:
    """Refuse (exit 2) to write a checkpoint where it would replace a shipped model by accident."""
    if small_run and out.resolve().parent == SHIPPED.resolve():
        fail(f"--dry-run and --limit runs never write into {SHIPPED}; choose another --out (default runs/)")
    try:
        listed = out.name in read_manifest(out.parent)
    except CheckpointError as e:
        fail(str(e))
    scratch = out.resolve().parent == RUNS.resolve()  # runs/ keeps the latest run of each model, by design
    if listed and not force and not scratch:
        fail(f"{out} is a checkpoint listed in {out.parent / 'MANIFEST.json'}; pass --force to replace it")


def prepare_run(args: argparse.Namespace) -> None:
    """After parsing: apply --dry-run (1 epoch, 256 items), check --out, seed every generator."""
    if args.dry_run:
        args.limit = args.limit or 256
        args.epochs = 1
    args.out = Path(args.out)
    check_out(args.out, args.force, small_run=bool(args.dry_run or args.limit))
    seed_everything(args.seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
