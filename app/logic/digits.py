"""All digit models at once: preprocess a drawing, run every model, keep probabilities and activations.

One forward pass per model gives both: the calibrated probabilities come from the "logits" activation, so
the timing covers exactly the work the page shows (preprocess + predict + activations).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from app.logic.images import grey_to_rgb
from models.classifiers import Classifier
from models.preprocessing import DIGIT_BOX, DrawingSteps, digit_from_photo, drawing_steps


@dataclass(frozen=True)
class DigitPrediction:
    """One model's answer for one digit. probabilities: float (10,); activations: layer -> (1, ...)."""

    name: str
    probabilities: np.ndarray
    activations: OrderedDict[str, np.ndarray]

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())


@dataclass(frozen=True)
class DigitResult:
    """Every model's prediction for one 28 x 28 input, and the server-side time it took in milliseconds."""

    digit: np.ndarray  # uint8 (28, 28), what the models see
    predictions: list[DigitPrediction]
    milliseconds: float
    steps: DrawingSteps | None = None  # the preprocessing stages, for a drawing

    @property
    def agree(self) -> bool:
        return len({p.digit for p in self.predictions}) <= 1

    def verdict(self) -> str:
        """One sentence on (dis)agreement, e.g. "All 3 models say 7." or "The models disagree: ..."."""
        if not self.predictions:
            return "No model is available."
        if self.agree:
            return f"All {len(self.predictions)} models say {self.predictions[0].digit}."
        votes = ", ".join(f"{p.name} says {p.digit}" for p in self.predictions)
        return f"The models disagree: {votes}."


def confidence_text(probability: float) -> str:
    """"87% sure"; never "100% sure" for a probability that only rounds to 1 (no network is ever certain)."""
    return "over 99% sure" if probability >= 0.995 else f"{probability:.0%} sure"


def predict_one(clf: Classifier, digit: np.ndarray) -> DigitPrediction:
    """Run one model on one uint8 (28, 28) digit; one forward pass yields activations and probabilities."""
    acts = clf.activations(digit[None])  # batch of 1: every layer is (1, ...)
    probs = clf.proba_of(acts["logits"])[0]  # (10,), calibrated
    return DigitPrediction(clf.name, probs, acts)


def _predict_all(
    classifiers: Mapping[str, Classifier], digit: np.ndarray, start: float, steps: DrawingSteps | None = None
) -> DigitResult:
    """Every model on one digit; ``start`` is when the work began (perf_counter), so timing includes preprocessing."""
    predictions = [predict_one(clf, digit) for clf in classifiers.values()]
    return DigitResult(digit, predictions, (time.perf_counter() - start) * 1000, steps)


def predict_digit(classifiers: Mapping[str, Classifier], digit: np.ndarray) -> DigitResult:
    """Every model on one ready 28 x 28 digit (e.g. a bundled MNIST sample)."""
    return _predict_all(classifiers, np.asarray(digit, np.uint8), time.perf_counter())


def predict_drawing(classifiers: Mapping[str, Classifier], canvas: np.ndarray | None) -> DigitResult | None:
    """A canvas (RGBA (H, W, 4), white ink on black) -> every model's prediction; None for an empty canvas.

    The time covers preprocessing, prediction and activations of all models: the server's share of the
    delay between the end of a stroke and the answers on screen.
    """
    if canvas is None:
        return None
    start = time.perf_counter()
    steps = drawing_steps(canvas)
    if steps is None:
        return None
    return _predict_all(classifiers, steps.digit, start, steps)


def predict_photo_digit(classifiers: Mapping[str, Classifier], rgb: np.ndarray) -> DigitResult | None:
    """An uploaded picture of a handwritten digit (dark on light is inverted) -> predictions, or None if blank."""
    start = time.perf_counter()
    digit = digit_from_photo(rgb)
    if digit is None:
        return None
    return _predict_all(classifiers, digit, start)


def scaled_step_image(steps: DrawingSteps) -> np.ndarray:
    """The cropped, scaled ink (h, w with max 20) centred on a black 20 x 20 square, enlarged, uint8 RGB.

    Padding to a square keeps the true aspect ratio however wide the page shows the picture.
    """
    h, w = steps.scaled.shape
    square = np.zeros((DIGIT_BOX, DIGIT_BOX), np.uint8)
    top, left = (DIGIT_BOX - h) // 2, (DIGIT_BOX - w) // 2
    square[top : top + h, left : left + w] = steps.scaled
    return grey_to_rgb(square, 140)


def crop_box_image(steps: DrawingSteps) -> np.ndarray:
    """The canvas ink as uint8 RGB with the crop box drawn in orange (step 1 of "what the model sees")."""
    ink = np.rint(np.clip(steps.ink, 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(ink[:, :, None], 3, axis=2)
    top, bottom, left, right = steps.box
    orange = np.array([255, 140, 0], np.uint8)
    t = max(2, rgb.shape[0] // 140)  # a line about 2 px thick on the 280 px canvas
    rgb[top : top + t, left:right] = orange
    rgb[max(bottom - t, top) : bottom, left:right] = orange
    rgb[top:bottom, left : left + t] = orange
    rgb[top:bottom, max(right - t, left) : right] = orange
    return rgb
