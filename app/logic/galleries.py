"""The pictures behind the numbers: which of the bundled test digits each model gets wrong, and where they disagree;
which test photos (listed by the eval reports) the photo models get wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
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


def wrong_for_every_model(mistakes: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The photos (file names, as the eval reports list them) that every model gets wrong, in the first
    model's order (its most confident mistakes first)."""
    lists = list(mistakes.values())
    if not lists:
        return []
    common = set.intersection(*({m["file"] for m in wrong} for wrong in lists))
    return [m["file"] for m in lists[0] if m["file"] in common]


def photo_thumbnail(path: Path, side: int = 112) -> np.ndarray | None:
    """A test photo from the data folder as uint8 RGB, at most ``side`` pixels on its longer side; None when the
    file is not there. The data folder is the server's own, so it is decoded here (as training does)."""
    from PIL import Image

    from uploads import decode_photo

    try:
        photo = decode_photo(Path(path).read_bytes())
    except OSError:
        return None
    image = Image.fromarray(photo)
    image.thumbnail((side, side))
    return np.asarray(image, np.uint8)
