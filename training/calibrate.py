"""The last step of training a classifier: fit its temperature and its "I don't know" threshold on
validation data only, and record both (with what they achieve on validation) in the checkpoint's meta.

- temperature: minimises the NLL of the validation labels (models/calibration.py);
- threshold: the unknown_score above which at most ``REFUSE_RATE`` of the validation items of the known
  classes fall, so about that share of real inputs is wrongly refused; how many validation unknowns it
  catches is recorded beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.calibration import expected_calibration_error, fit_temperature, softmax
from models.classifiers import logsumexp
from models.metrics import auroc, threshold_for_refusal_rate

REFUSE_RATE = 0.007  # digits: 0.7% of validation digits refused, so that under 1% of new drawings are (issue 10)


def unknown_score(logits: np.ndarray, classes: int) -> np.ndarray:
    """The unknown output's log-odds against all classes (as Classifier.unknown_score): float (N,)."""
    z = np.asarray(logits, np.float64)
    return z[:, classes] - logsumexp(z[:, :classes])


def calibrate(
    known_logits: np.ndarray, known_labels: np.ndarray, unknown_logits: np.ndarray, classes: int,
    known_name: str, unknown_name: str, refuse_rate: float = REFUSE_RATE,
) -> dict[str, Any]:
    """{"calibration": ..., "unknown": ...} sections of a checkpoint's meta, from validation logits.

    known_logits: (N, classes + 1) outputs on validation items of the known classes, with ``known_labels``;
    unknown_logits: (M, classes + 1) on validation items of no class. The names say what the sets are.
    """
    class_logits = np.asarray(known_logits, np.float64)[:, :classes]
    temperature = fit_temperature(class_logits, known_labels)
    known_scores, unknown_scores = unknown_score(known_logits, classes), unknown_score(unknown_logits, classes)
    threshold = threshold_for_refusal_rate(known_scores, refuse_rate)
    return {
        "calibration": {
            "method": "temperature scaling",
            "temperature": temperature,
            "fitted_on": known_name,
            "val_ece_before": expected_calibration_error(softmax(class_logits), known_labels),
            "val_ece_after": expected_calibration_error(softmax(class_logits, temperature), known_labels),
        },
        "unknown": {
            "method": "unknown output trained by outlier exposure",
            "score": "log-odds of the unknown output against all classes",
            "threshold": threshold,
            "chosen_on": f"{known_name} vs {unknown_name}",
            "val_known_refused": float((known_scores > threshold).mean()),
            "val_unknown_caught": float((unknown_scores > threshold).mean()),
            "val_auroc": auroc(known_scores, unknown_scores),
        },
    }
