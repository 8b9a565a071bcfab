"""The comparison page's numbers: one table of models, saved evaluations, mistakes, histories, weights.

Two evaluation sets. The full test sets (10,000 MNIST digits, 1,999 cats-vs-dogs validation photos) are too
big to score while a visitor waits, so their results come from the reports ``python -m training.evaluate
<ckpt> --save`` writes beside each checkpoint (``<stem>.eval.json``); a report is used only when its sha256
matches the checkpoint it sits beside. The bundled 500 MNIST test digits (models.samples) are scored live,
for galleries of real mistakes. Both go through training.evaluate's code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.logic.images import apply_colormap, enlarge
from app.logic.registry import ROOT
from models.classifiers import DIGIT_CLASSES, Classifier
from training.common import eval_path, history_path
from training.evaluate import evaluate_predictions


def measure_latency(clf: Classifier, inputs: Sequence[Any], repeats: int = 15) -> float:
    """Median milliseconds for one prediction of one input (after one warm-up call), on this machine."""
    clf.predict_proba(inputs[:1])  # warm-up: first calls pay for lazy imports and allocations
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        clf.predict_proba(inputs[i % len(inputs) : i % len(inputs) + 1])
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def accuracy_of(description: Mapping[str, Any]) -> tuple[float | None, str]:
    """(accuracy, which set) from describe()["metrics"]: the test accuracy, else the validation accuracy."""
    metrics = description.get("metrics", {})
    if "test_acc" in metrics:
        return float(metrics["test_acc"]), "test"
    if "val_acc" in metrics:
        return float(metrics["val_acc"]), "validation"
    return None, ""


def model_table(classifiers: Mapping[str, Classifier], latencies_ms: Mapping[str, float]) -> pd.DataFrame:
    """One row per model: name, parameters, checkpoint size, accuracy, training time, latency, task, architecture.

    The long architecture text comes last so the numbers stay visible on narrow screens.
    """
    rows = []
    for key, clf in classifiers.items():
        d = clf.describe()
        accuracy, split = accuracy_of(d)
        rows.append(
            {
                "Model": clf.name,
                "Parameters": int(d["parameters"]),
                "Checkpoint (MB)": round(d["checkpoint"]["bytes"] / 1e6, 2),
                "Accuracy (%)": None if accuracy is None else round(100 * accuracy, 2),
                "Measured on": split,
                "Training time (min)": round(float(d["training"].get("wall_time_s", float("nan"))) / 60, 1),
                "Latency (ms)": round(float(latencies_ms[key]), 2) if key in latencies_ms else None,
                "Task": "digits" if clf.class_names == DIGIT_CLASSES else " vs ".join(clf.class_names),
                "Architecture": d["architecture"],
            }
        )
    return pd.DataFrame(rows)


def sample_predictions(classifiers: Mapping[str, Classifier], images: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted digit of every bundled sample image, per model: name -> int (N,)."""
    return {clf.name: clf.predict(images) for clf in classifiers.values()}


def sample_reports(predictions: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per model: accuracy, per-class accuracy and confusion matrix (training.evaluate.evaluate_predictions)."""
    return {name: evaluate_predictions(labels, pred, DIGIT_CLASSES) for name, pred in predictions.items()}


def mistakes(predictions: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """Indices of the samples each model gets wrong."""
    return {name: np.flatnonzero(pred != labels) for name, pred in predictions.items()}


def disagreements(predictions: Mapping[str, np.ndarray]) -> np.ndarray:
    """Indices of the samples on which the models do not all give the same answer."""
    stacked = np.stack(list(predictions.values()))  # (models, N)
    return np.flatnonzero((stacked != stacked[0]).any(axis=0))


def mistake_caption(
    index: int, predictions: Mapping[str, np.ndarray], labels: np.ndarray, model: str | None = None
) -> str:
    """Short picture caption: "a 4, read as 9" for one model, or "4: 9 / 4 / 4" (every model's answer, in order)."""
    if model is not None:
        return f"a {labels[index]}, read as {int(predictions[model][index])}"
    return f"{labels[index]}: " + " / ".join(str(int(p[index])) for p in predictions.values())


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


@dataclass(frozen=True)
class EvalReport:
    """A checkpoint's saved evaluation on its full test set, or why there is no usable one (``data`` None)."""

    checkpoint: Path
    data: dict[str, Any] | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None

    @property
    def command(self) -> str:
        """The command that (re)makes the report, with the checkpoint as the user would type it."""
        try:
            shown = self.checkpoint.resolve().relative_to(ROOT)
        except ValueError:  # a checkpoint folder outside the repository ($PLAYGROUND_CHECKPOINT_DIR)
            shown = self.checkpoint
        return f"python -m training.evaluate {shown} --save"

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


def first_layer_weights(clf: Classifier) -> np.ndarray:
    """The first layer's weights, one picture per unit or filter.

    MLPs: (units, 28, 28), each hidden unit's weights over the input pixels. CNNs: (filters, k, k) for grey
    input or (filters, k, k, 3) for RGB: each first-layer convolution kernel.
    """
    model = clf.model
    kind = clf.meta["model_type"]
    if kind == "numpy_mlp":
        w = np.asarray(model.weights[0]).T  # (784, 512) stored fan-in first -> (512, 784)
    elif kind == "torch_mlp":
        w = model.layers[0].weight.detach().numpy()  # (512, 784), torch's (out, in)
    else:
        w = model.blocks[0][0].weight.detach().numpy()  # (filters, in_channels, k, k)
        return w[:, 0] if w.shape[1] == 1 else w.transpose(0, 2, 3, 1)
    side = int(round(np.sqrt(w.shape[1])))
    return w.reshape(len(w), side, side)


def weight_images(weights: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` weight pictures as uint8 RGB, each on its own symmetric scale around zero.

    Grey kernels go through the blue-white-red map (blue negative, red positive); RGB kernels are shown in
    their own colours, mid-grey = 0. Each picture is scaled by its own largest |weight| so faint units show.
    """
    out = []
    for w in weights[:count]:
        top = float(np.abs(w).max()) or 1.0
        if w.ndim == 2:
            rgb = apply_colormap(0.5 + 0.5 * w / top, "diverging")
        else:
            rgb = np.rint((0.5 + 0.5 * w / top) * 255).astype(np.uint8)
        out.append(enlarge(rgb, 84))
    return out
