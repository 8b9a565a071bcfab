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


def model_table(
    classifiers: Mapping[str, Classifier],
    latencies_ms: Mapping[str, float],
    measured: Mapping[str, tuple[float, str]] | None = None,
) -> pd.DataFrame:
    """One row per model: name, parameters, checkpoint size, accuracy, training time, latency, task, architecture.

    ``measured``: key -> (accuracy, set) from the saved evaluation reports, preferred over the figures the
    checkpoint recorded in training. The long architecture text comes last so the numbers stay visible on
    narrow screens.
    """
    rows = []
    for key, clf in classifiers.items():
        d = clf.describe()
        accuracy, split = (measured or {}).get(key) or accuracy_of(d)
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


def honesty_table(reports: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model from its saved evaluation report: calibration error before and after the temperature,
    and how well it tells known from unknown inputs (AUROC of each score; at its threshold, the share of
    unknown inputs caught and of known ones wrongly refused). Missing figures are None."""
    rows = []
    for name, report in reports.items():
        cal, unknown = report.get("calibration", {}), report.get("unknown", {})
        auroc = unknown.get("auroc", {})
        rows.append(
            {
                "Model": name,
                "ECE before (%)": _percent(cal.get("ece_before")),
                "ECE after (%)": _percent(cal.get("ece_after")),
                "AUROC, unknown output": _round(auroc.get("unknown")),
                "AUROC, 1 - max prob.": _round(auroc.get("msp")),
                "AUROC, energy": _round(auroc.get("energy")),
                "Unknown caught (%)": _percent(unknown.get("unknown_caught")),
                "Known refused (%)": _percent(unknown.get("known_refused")),
            }
        )
    return pd.DataFrame(rows)


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * float(value), 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def outside_table(reports: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per photo model whose saved report measured it outside its data sets (training/outside.py): on
    cat and dog photos from other sources than Kaggle, and on the everyday photos of the categories kept for
    test (no model learns from them)."""
    rows = []
    for name, report in reports.items():
        outside = report.get("outside")
        if not outside:
            continue
        pets, everyday = outside["pets"], outside.get("everyday", {})
        rows.append(
            {
                "Model": name,
                "Accuracy (%)": _percent(pets["accuracy"]),
                "ECE (%)": _percent(pets["ece"]),
                "Pets refused (%)": _percent(pets.get("refused")),
                "Everyday caught (%)": _percent(everyday.get("caught", {}).get("test")),
                "AUROC, unknown output": _round(everyday.get("auroc_outside_pets", {}).get("unknown")),
            }
        )
    return pd.DataFrame(rows)
