"""The PyTorch training loop shared by the torch digit models and the Pet CNN.

Data stay uint8 NumPy arrays until a mini-batch is drawn; ``prepare(batch, train)`` turns a uint8 batch
into the model's float input (augmenting only when ``train``), so evaluation is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from training.augment import cutmix
from training.distributed import sum_over_processes
from training.runlog import progress

Prepare = Callable[[np.ndarray, bool], torch.Tensor]


def cpu_supports_bf16() -> bool:
    """bf16 autocast is only a win on CPUs with native bf16 (AVX512-BF16 / AMX)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def train_one_epoch(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    order: np.ndarray,
    prepare: Prepare,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    batch_size: int,
    label_smoothing: float = 0.0,
    bf16: bool = False,
    cutmix_prob: float = 0.0,
    generator: torch.Generator | None = None,
    average: AveragedModel | None = None,
    desc: str = "train",
    show_progress: bool = True,
) -> dict[str, float]:
    """One pass over the items ``order`` picks from (images, labels), in that order (a shuffled epoch, or
    this process's shard of one: training/distributed.py). Returns {"train_loss", "train_acc"} on the
    augmented data, over all training processes. ``cutmix_prob``: the share of batches mixed by CutMix
    (training/augment.py; drawn with ``generator``); ``average``: a running average of the weights
    (torch.optim.swa_utils), updated after every step."""
    model.train()
    starts = range(0, len(order), batch_size)
    total_loss = correct = seen = 0.0
    bar = progress(starts, desc, len(starts), show_progress)
    for start in bar:
        idx = np.sort(order[start : start + batch_size])  # sorted: faster reads from a memory-mapped cache
        x = prepare(np.asarray(images[idx]), True)
        y = torch.from_numpy(labels[idx])
        mixed = cutmix_prob > 0 and float(torch.rand(1, generator=generator)) < cutmix_prob
        if mixed:
            x, partner, lam = cutmix(x, generator)
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        if mixed:
            loss = lam * loss + (1 - lam) * F.cross_entropy(logits.float(), y[partner], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if average is not None:
            average.update_parameters(model)
        total_loss += float(loss.detach()) * len(y)
        correct += float((logits.detach().argmax(1) == y).sum())
        seen += len(y)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    total_loss, correct, seen = sum_over_processes(total_loss, correct, seen)
    return {"train_loss": total_loss / seen, "train_acc": correct / seen}


@torch.inference_mode()
def evaluate(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, *, prepare: Prepare, batch_size: int = 500,
    classes: int | None = None,
) -> dict[str, float]:
    """Loss and accuracy without augmentation or dropout (fp32); answers are the best of the first ``classes``
    outputs (all when None: an unknown output is never an answer here). Returns {"loss", "acc", "n"}."""
    model.eval()
    total_loss = correct = 0.0
    for start in range(0, len(labels), batch_size):
        x = prepare(np.array(images[start : start + batch_size]), False)  # a copy: memory-mapped caches are read-only
        y = torch.from_numpy(labels[start : start + batch_size])
        logits = model(x)
        total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits[:, :classes].argmax(1) == y).sum())
    return {"loss": total_loss / len(labels), "acc": correct / len(labels), "n": len(labels)}


@torch.inference_mode()
def predict_logits(model: nn.Module, images: np.ndarray, *, prepare: Prepare, batch_size: int = 500) -> np.ndarray:
    """The model's outputs for many inputs, float32 (N, outputs), in eval mode and batches."""
    model.eval()
    return np.concatenate([model(prepare(np.array(images[s : s + batch_size]), False)).float().numpy()
                           for s in range(0, len(images), batch_size)])


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The state dict as NumPy arrays (BatchNorm buffers included), ready for save_checkpoint."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
