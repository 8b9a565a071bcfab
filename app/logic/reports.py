"""Reading what the CLIs saved beside a checkpoint: its training history, its full-test-set evaluation and its
robustness curves.

The full test sets are too big to score while a visitor waits, so their results come from the reports
``python -m training.evaluate <ckpt> --save`` writes (``<stem>.eval.json``) and ``python -m training.robustness
<ckpt> --save`` writes (``<stem>.robustness.json``); a report is used only when its sha256 matches the checkpoint
it sits beside. Nothing here raises for a bad file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.logic.checkpoints import ROOT
from models.artifacts import eval_path, history_path, robustness_path


def load_history(checkpoint: Path) -> pd.DataFrame | None:
    """Per-epoch curves of a checkpoint as long data (epoch, metric, split, value); None without a history file."""
    path = history_path(checkpoint)
    if not path.exists():
        return None
    try:
        epochs = json.loads(path.read_text())["epochs"]
    except (OSError, ValueError, KeyError):
        return None
    rows = []
    for record in epochs:
        for split in ("train", "val"):
            for metric in ("loss", "acc"):
                value = record.get(f"{split}_{metric}")
                if value is not None:
                    rows.append(
                        {
                            "epoch": int(record["epoch"]),
                            "metric": "accuracy" if metric == "acc" else "loss",
                            "split": "training" if split == "train" else "validation",
                            "value": float(value),
                        }
                    )
    return pd.DataFrame(rows)


def shown_path(checkpoint: Path) -> Path:
    """The checkpoint as the user would type it: relative to the repository when inside it."""
    try:
        return checkpoint.resolve().relative_to(ROOT)
    except ValueError:  # a checkpoint folder outside the repository ($PLAYGROUND_CHECKPOINT_DIR)
        return checkpoint


@dataclass(frozen=True)
class EvalReport:
    """A checkpoint's saved report (its evaluation on the full test set, or, made by ``cli``
    "training.robustness", its robustness curves), or why there is no usable one (``data`` None)."""

    checkpoint: Path
    data: dict[str, Any] | None
    problem: str | None = None
    cli: str = "training.evaluate"  # the module that makes the report

    @property
    def ok(self) -> bool:
        return self.data is not None

    @property
    def accuracy(self) -> tuple[float, str] | None:
        """(accuracy, "test" or "validation") when the report is usable."""
        if self.data is None:
            return None
        return float(self.data["accuracy"]), "validation" if "val" in str(self.data.get("dataset", "")) else "test"

    @property
    def command(self) -> str:
        """The command that (re)makes the report, with the checkpoint as the user would type it."""
        return f"python -m {self.cli} {shown_path(self.checkpoint)} --save"

    def message(self) -> str:
        """What is wrong and how to fix it, for an ``st.info``."""
        return f"{self.problem} Run `{self.command}` to make it."


def load_eval_report(checkpoint: Path, sha256: str, class_names: Sequence[str]) -> EvalReport:
    """The saved ``<stem>.eval.json`` of ``checkpoint`` if it exists, parses, fits the classes and was made
    from exactly this checkpoint (``sha256``); otherwise an EvalReport whose ``problem`` says why.

    Never raises for a bad file: a stale or broken report must not take the comparison page down.
    """
    checkpoint = Path(checkpoint)
    path = eval_path(checkpoint)
    if not path.exists():
        return EvalReport(checkpoint, None, f"No saved evaluation for {checkpoint.name} yet.")
    try:
        data = json.loads(path.read_text())
        matrix = np.asarray(data["confusion_matrix"], dtype=np.int64)
        per_class = {str(k): float(v) for k, v in data["per_class_accuracy"].items()}
        accuracy = float(data["accuracy"])
        n = int(data["n"])
        saved_sha = str(data["sha256"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return EvalReport(checkpoint, None, f"The saved evaluation {path.name} could not be read.")
    k = len(class_names)
    if matrix.shape != (k, k) or list(per_class) != list(class_names) or matrix.sum() != n:
        return EvalReport(checkpoint, None, f"The saved evaluation {path.name} does not fit {checkpoint.name}.")
    if saved_sha != sha256:
        # The checkpoint was retrained (or replaced) after the report was written: its numbers would be wrong.
        return EvalReport(
            checkpoint, None, f"The saved evaluation {path.name} was made from an older version of {checkpoint.name}."
        )
    clean = {**data, "accuracy": accuracy, "per_class_accuracy": per_class, "confusion_matrix": matrix.tolist(),
             "n": n}
    return EvalReport(checkpoint, clean)


def load_robustness_report(checkpoint: Path, sha256: str) -> EvalReport:
    """The saved ``<stem>.robustness.json`` of ``checkpoint`` (curves: name -> {"x", "values", "accuracy", "n"})
    if it exists, parses and was made from exactly this checkpoint; otherwise a report whose ``problem`` says why."""
    checkpoint, cli = Path(checkpoint), "training.robustness"
    path = robustness_path(checkpoint)
    if not path.exists():
        return EvalReport(checkpoint, None, f"No robustness report for {checkpoint.name} yet.", cli)
    try:
        data = json.loads(path.read_text())
        curves = {str(name): {"x": str(c.get("x", "")), "values": [float(v) for v in c["values"]],
                              "accuracy": [float(a) for a in c["accuracy"]], "n": int(c["n"])}
                  for name, c in data["curves"].items()}
        saved_sha = str(data["sha256"])
        if any(len(c["values"]) != len(c["accuracy"]) for c in curves.values()):
            raise ValueError("a curve has as many accuracies as values")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return EvalReport(checkpoint, None, f"The robustness report {path.name} could not be read.", cli)
    if saved_sha != sha256:
        return EvalReport(checkpoint, None, f"The robustness report {path.name} was made from an older version of "
                          f"{checkpoint.name}.", cli)
    return EvalReport(checkpoint, {**data, "curves": curves}, None, cli)


def robustness_command(checkpoints: Sequence[Path]) -> str:
    """One command that (re)makes the robustness reports of all ``checkpoints``."""
    return f"python -m training.robustness {' '.join(str(shown_path(c)) for c in checkpoints)} --save"


def common_mistakes(
    reports: Mapping[str, Mapping[str, Any]], class_names: Sequence[str], count: int = 3
) -> list[tuple[str, str, int]]:
    """The ``count`` most frequent (true class, answer, times) confusions, summed over every model's matrix."""
    total = sum(np.asarray(r["confusion_matrix"], dtype=np.int64) for r in reports.values())
    off = np.array(total, copy=True)
    np.fill_diagonal(off, 0)  # right answers are not mistakes
    order = np.argsort(off, axis=None, kind="stable")[::-1][:count]
    pairs = [np.unravel_index(i, off.shape) for i in order]
    return [(class_names[t], class_names[p], int(off[t, p])) for t, p in pairs if off[t, p] > 0]
