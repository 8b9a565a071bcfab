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
