"""Resumable training: a run's whole state saved after every epoch, so ``--resume`` goes on from the last one
finished (a long run can span several sittings, or survive being stopped).

The state is a plain dict of tensors, numbers, strings and lists (state dicts of the model, its optimizer,
scheduler and weight average, the random generators, the history), written atomically with ``torch.save`` and
read back with ``torch.load(weights_only=True)``, which refuses anything that would unpickle code. It lives
in ``runs/`` (git-ignored) as ``<stem of --out>.resume.pt`` and carries the flags of the run that wrote it:
resuming with other flags is refused rather than mixing two runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from training.cli import RUNS, fail

# Flags that may differ between sittings: they do not change what is trained (flip_average changes only how
# the trained network answers).
FREE = {"resume", "no_progress", "data_dir", "force", "dry_run", "flip_average"}


def state_path(out: Path) -> Path:
    return RUNS / f"{Path(out).stem}.resume.pt"


def signature(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that shape the run, as plain values (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items()) if k not in FREE}


def save_state(out: Path, state: dict[str, Any]) -> None:
    """Write the state for ``out`` atomically (a run stopped while writing keeps the previous epoch's)."""
    path = state_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The saved state of the run that writes ``out``; exits with a message when there is none or when it
    was written with other flags."""
    path = state_path(out)
    if not path.is_file():
        fail(f"--resume: no saved state in {path} (a run with the same --out writes one after every epoch)")
    state = torch.load(path, weights_only=True)
    if state["args"] != signature(args):
        changed = sorted(k for k in set(state["args"]) | set(signature(args))
                         if state["args"].get(k) != signature(args).get(k))
        fail(f"--resume: {path} was written with other flags ({', '.join(changed)}); use the same flags")
    return state
