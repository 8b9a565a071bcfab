"""All digit models at once: preprocess a drawing, run every model, keep probabilities and activations.

One forward pass per model gives both: the calibrated probabilities come from the "logits" activation, so
the timing covers exactly the work the page shows (preprocess + predict + activations).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from app.logic.images import grey_to_rgb
from models.classifiers import Classifier
from models.perturb import Bend, bend
from models.preprocessing import DIGIT_BOX, DrawingSteps, digit_from_photo, drawing_steps

Clock = Callable[[], float]  # seconds (time.perf_counter; tests pass a fake one)


@dataclass(frozen=True)
class DigitPrediction:
    """One model's answer for one digit. probabilities: calibrated, float (10,); activations: layer -> (1, ...);
    unknown_score / unknown_threshold: the model's "not a digit" score and threshold (None if it has none)."""

    name: str
    probabilities: np.ndarray
    activations: OrderedDict[str, np.ndarray]
    unknown_score: float | None = None
    unknown_threshold: float | None = None

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    @property
    def is_digit(self) -> bool:
        """False when the model's "not a digit" score is over its threshold."""
        return self.unknown_score is None or self.unknown_score <= self.unknown_threshold

    @property
    def answer(self) -> int | None:
        """The digit this model answers, or None for "not a digit"."""
        return self.digit if self.is_digit else None


@dataclass(frozen=True)
class DigitResult:
    """Every model's prediction for one 28 x 28 input, and the server-side time it took in milliseconds."""

    digit: np.ndarray  # uint8 (28, 28), what the models see (bent, when a Bend was given)
    predictions: list[DigitPrediction]
    milliseconds: float
    steps: DrawingSteps | None = None  # the preprocessing stages, for a drawing

    @property
    def agree(self) -> bool:
        return len({p.answer for p in self.predictions}) <= 1

    @property
    def refused_by(self) -> list[str]:
        """Names of the models that say "not a digit"."""
        return [p.name for p in self.predictions if not p.is_digit]

    def verdict(self) -> str:
        """One sentence on the answers, e.g. "All 3 models say 7.", "The models disagree: ..." or
        "This doesn't look like a digit to the CNN (...)"."""
        if not self.predictions:
            return "No model is available."
        refused = self.refused_by
        if len(refused) == len(self.predictions):
            return "This doesn't look like a digit to any of the models."
        if refused:
            others = ", ".join(f"the {p.name} says {p.digit}" for p in self.predictions if p.is_digit)
            return f"This doesn't look like a digit to the {join_names(refused)} ({others})."
        if self.agree:
            return f"All {len(self.predictions)} models say {self.predictions[0].digit}."
        votes = ", ".join(f"{p.name} says {p.digit}" for p in self.predictions)
        return f"The models disagree: {votes}."


def join_names(names: list[str]) -> str:
    """["A"] -> "A", ["A", "B"] -> "A and B", ["A", "B", "C"] -> "A, B and C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def confidence_text(probability: float) -> str:
    """"87% sure"; never "100% sure" for a probability that only rounds to 1 (no network is ever certain)."""
    return "over 99% sure" if probability >= 0.995 else f"{probability:.0%} sure"


def predict_one(clf: Classifier, digit: np.ndarray) -> DigitPrediction:
    """Run one model on one uint8 (28, 28) digit; one forward pass yields activations, the calibrated
    probabilities and the "not a digit" score."""
    acts = clf.activations(digit[None])  # batch of 1: every layer is (1, ...)
    probs = clf.proba_of(acts["logits"])[0]  # (10,)
    if not clf.has_unknown_output:
        return DigitPrediction(clf.name, probs, acts)
    score = float(clf.unknown_score_of(acts["logits"])[0])
    return DigitPrediction(clf.name, probs, acts, score, clf.unknown_threshold)


def _predict_all(
    classifiers: Mapping[str, Classifier], digit: np.ndarray, start: float, steps: DrawingSteps | None = None,
    settings: Bend | None = None, clock: Clock = time.perf_counter,
) -> DigitResult:
    """Every model on one digit, bent by ``settings`` first if given; ``start`` is when the work began on
    ``clock``, so timing includes preprocessing and bending."""
    if settings is not None:
        digit = bend(digit, settings)
    predictions = [predict_one(clf, digit) for clf in classifiers.values()]
    return DigitResult(digit, predictions, (clock() - start) * 1000, steps)


def predict_digit(classifiers: Mapping[str, Classifier], digit: np.ndarray, settings: Bend | None = None,
                  clock: Clock = time.perf_counter) -> DigitResult:
    """Every model on one ready 28 x 28 digit (e.g. a bundled MNIST sample), bent by ``settings`` if given."""
    return _predict_all(classifiers, np.asarray(digit, np.uint8), clock(), settings=settings, clock=clock)


def predict_drawing(classifiers: Mapping[str, Classifier], canvas: np.ndarray | None,
                    settings: Bend | None = None, clock: Clock = time.perf_counter) -> DigitResult | None:
    """A canvas (RGBA (H, W, 4), white ink on black) -> every model's prediction on the digit (bent by
    ``settings`` if given); None for an empty canvas.

    The time covers preprocessing, prediction and activations of all models: the server's share of the
    delay between the end of a stroke and the answers on screen.
    """
    if canvas is None:
        return None
    start = clock()
    steps = drawing_steps(canvas)
    if steps is None:
        return None
    return _predict_all(classifiers, steps.digit, start, steps, settings, clock)


def predict_photo_digit(classifiers: Mapping[str, Classifier], rgb: np.ndarray, settings: Bend | None = None,
                        clock: Clock = time.perf_counter) -> DigitResult | None:
    """An uploaded picture of a handwritten digit (dark on light is inverted) -> predictions on it (bent by
    ``settings`` if given), or None if blank."""
    start = clock()
    digit = digit_from_photo(rgb)
    if digit is None:
        return None
    return _predict_all(classifiers, digit, start, settings=settings, clock=clock)


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
