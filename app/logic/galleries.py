"""The pictures behind the numbers: which of the bundled test digits each model gets wrong, and where they disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from models.classifiers import DIGIT_CLASSES, Classifier
from models.metrics import evaluate_predictions


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
