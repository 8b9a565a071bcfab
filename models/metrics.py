"""Scores of a classifier's answers against the truth: accuracy, per-class accuracy, confusion matrix.

NumPy only; training, evaluation, the app and the tests all score through these functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; entry [t, p] counts items of true class t predicted as p."""
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def evaluate_predictions(labels: np.ndarray, predictions: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, per-class accuracy (recall) and confusion matrix as a JSON-friendly dict."""
    matrix = confusion_matrix(labels, predictions, len(class_names))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == predictions).mean()),
        "per_class_accuracy": {name: float(a) for name, a in zip(class_names, per_class)},
        "confusion_matrix": matrix.tolist(),
    }


# --- telling known from unknown --------------------------------------------------------------------------
def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Area under the ROC curve of an "unknown" score (higher = less like the known classes): the chance
    that a random unknown item scores higher than a random known one, ties counting half."""
    known = np.sort(np.asarray(known, np.float64))
    below = np.searchsorted(known, unknown, side="left")  # known items scoring lower than each unknown one
    tied = np.searchsorted(known, unknown, side="right") - below
    return float((below + 0.5 * tied).sum() / (len(known) * len(unknown)))


def roc_curve(known: np.ndarray, unknown: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """ROC of an "unknown" score at ``points`` thresholds (quantiles of all scores): for each, the share of
    known items wrongly refused (false-positive rate) and of unknown items caught (true-positive rate)."""
    all_scores = np.concatenate([known, unknown])
    thresholds = np.unique(np.quantile(all_scores, np.linspace(0, 1, points)))
    fpr = [float((known > t).mean()) for t in thresholds]
    tpr = [float((unknown > t).mean()) for t in thresholds]
    return {"threshold": thresholds.tolist(), "fpr": [1.0, *fpr], "tpr": [1.0, *tpr]}


def threshold_for_refusal_rate(known: np.ndarray, rate: float) -> float:
    """The score above which at most ``rate`` of the known items fall (so at most that share is refused)."""
    return float(np.quantile(np.asarray(known, np.float64), 1.0 - rate, method="higher"))
