"""The compare page's table: one row per model with its size, accuracy, training time and latency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from models.classifiers import DIGIT_CLASSES, Classifier


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
