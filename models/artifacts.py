"""Where a checkpoint's companion files live: its training history and its saved reports.

``checkpoints/digit_cnn.safetensors`` has ``digit_cnn.history.json`` (per-epoch curves, written by training),
``digit_cnn.eval.json`` (written by ``python -m training.evaluate --save``) and ``digit_cnn.robustness.json``
(written by ``python -m training.robustness --save``) beside it. Only the ``.safetensors`` suffix is removed,
so ``cnn.lr3e-3.safetensors`` and ``cnn.lr1e-3.safetensors`` keep separate files.
"""

from __future__ import annotations

import os
from pathlib import Path

SUFFIX = ".safetensors"


def stem(checkpoint: str | os.PathLike) -> str:
    """The checkpoint's file name without ``.safetensors`` (other dots kept)."""
    return Path(checkpoint).name.removesuffix(SUFFIX)


def history_path(checkpoint: str | os.PathLike) -> Path:
    """checkpoints/x.safetensors -> checkpoints/x.history.json."""
    return Path(checkpoint).with_name(stem(checkpoint) + ".history.json")


def eval_path(checkpoint: str | os.PathLike) -> Path:
    """checkpoints/x.safetensors -> checkpoints/x.eval.json."""
    return Path(checkpoint).with_name(stem(checkpoint) + ".eval.json")


def robustness_path(checkpoint: str | os.PathLike) -> Path:
    """checkpoints/x.safetensors -> checkpoints/x.robustness.json."""
    return Path(checkpoint).with_name(stem(checkpoint) + ".robustness.json")
