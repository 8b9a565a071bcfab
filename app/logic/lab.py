"""The draw page's lab, without Streamlit: attacking the current digit (what each model answers on the attacked
digit, whether the attack carries over to the other models) and saliency maps, plus signed maps as pictures.

Attacks and saliency come from ``models.attacks``; this module only picks their inputs for one digit and shapes
their outputs for the page. Models are keyed as on the page (``digit_models()`` keys); tables use display names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.logic.digits import DigitResult, confidence_text
from app.logic.images import apply_colormap, enlarge
from models.attacks import fgsm, pgd, saliency, transfer_table
from models.classifiers import Classifier
from models.inputs import as_digit_batch


@dataclass(frozen=True)
class AttackResult:
    """One attack on one digit. clean, adversarial: float32 (28, 28) in [0, 1]; answers: model name ->
    probabilities (10,) on ``adversarial``; transfer: ``transfer_table`` on this digit, 1.0 = fooled."""

    source: str  # display name of the attacked model
    label: int  # the digit the attack pushes the models away from
    eps: float
    clean: np.ndarray
    adversarial: np.ndarray
    answers: dict[str, np.ndarray]
    transfer: dict[str, dict[str, float]]

    @property
    def perturbation(self) -> np.ndarray:
        """adversarial - clean, float32 (28, 28), each pixel within [-eps, eps]."""
        return self.adversarial - self.clean

    def answers_frame(self) -> pd.DataFrame:
        """One row per model: its answer on the attacked digit, how sure, and whether it was fooled."""
        return pd.DataFrame([{"Model": name, "Answer": int(p.argmax()), "Sure": confidence_text(float(p.max())),
                              "Fooled": bool(p.argmax() != self.label)} for name, p in self.answers.items()])

    def transfer_frame(self) -> pd.DataFrame:
        """Rows: the attack built on each model; columns: each model's fate on it ("fooled" / "still 7")."""
        return pd.DataFrame({f"attack built on {source}": {target: "fooled" if v > 0.5 else f"still {self.label}"
                                                           for target, v in row.items()}
                             for source, row in self.transfer.items()}).T


def consensus(result: DigitResult) -> int:
    """The digit most models answer (ties: the first model's), the label an attack on this digit pushes against."""
    return Counter(p.digit for p in result.predictions).most_common(1)[0][0]


def attack_digit(classifiers: Mapping[str, Classifier], digit: np.ndarray, source: str, method: str, eps: float,
                 label: int) -> AttackResult:
    """Attack ``classifiers[source]`` on one digit (uint8 or float (28, 28)) with ``method`` ("fgsm" or "pgd",
    deterministic) pushing against ``label``; every model's answer on the result, and the transfer table."""
    by_name = {clf.name: clf for clf in classifiers.values()}
    x, y = as_digit_batch(digit), np.array([label])  # float32 (1, 28, 28), (1,)
    adversarial = {"fgsm": fgsm, "pgd": pgd}[method](classifiers[source], x, y, eps)  # float32 (1, 28, 28)
    answers = {name: clf.predict_proba(adversarial)[0] for name, clf in by_name.items()}
    return AttackResult(classifiers[source].name, label, eps, x[0], adversarial[0], answers,
                        transfer_table(by_name, x, y, eps, method))


def saliency_maps(classifiers: Mapping[str, Classifier], result: DigitResult, method: str = "gradient_x_input"
                  ) -> dict[str, np.ndarray]:
    """Model name -> float (28, 28): how much each pixel of ``result.digit`` adds to log p(the model's answer).
    ``result`` must come from these classifiers (its predictions are in the same order)."""
    return {p.name: saliency(clf, result.digit, p.digit, method)
            for clf, p in zip(classifiers.values(), result.predictions)}


def signed_image(values: np.ndarray, scale: float | None = None, min_side: int = 140) -> np.ndarray:
    """Signed float (H, W) -> uint8 RGB: -scale blue, 0 white, +scale red (default scale: the largest |value|)."""
    v = np.asarray(values, np.float32)
    top = float(np.abs(v).max()) if scale is None else float(scale)
    top = top if top > 0 else 1.0  # all zeros: all white
    return enlarge(apply_colormap(v / (2 * top) + 0.5, "diverging"), min_side)
