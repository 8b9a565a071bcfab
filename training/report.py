"""What an evaluation report says beyond accuracy: how honest the confidence is, and how well the model
tells what it knows from what it does not. Everything is computed from logits through the classifier's own
functions (``proba_of``, ``unknown_score_of``), so it measures exactly what the app shows.

Three ways to score "unknown" are compared on the same items (higher = less like the known classes):
- ``unknown``: the log-odds of the model's unknown output (only for models trained with one);
- ``msp``: 1 - the highest calibrated class probability (Hendrycks & Gimpel, 2017), the baseline;
- ``energy``: -logsumexp of the class logits (Liu et al., 2020).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.calibration import expected_calibration_error, reliability, softmax
from models.classifiers import Classifier, logsumexp
from models.metrics import auroc, roc_curve


def scores(clf: Classifier, logits: np.ndarray) -> dict[str, np.ndarray]:
    """Every available "unknown" score of ``logits`` (N, outputs): method -> float (N,)."""
    out = {"msp": 1.0 - clf.proba_of(logits).max(axis=1),
           "energy": -logsumexp(np.asarray(logits, np.float64)[:, : len(clf.class_names)])}
    if clf.has_unknown_output:
        out = {"unknown": clf.unknown_score_of(logits), **out}
    return out


def calibration_report(clf: Classifier, logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """ECE (15 bins) before and after the temperature, with both reliability diagrams' bins."""
    raw = softmax(np.asarray(logits, np.float64)[:, : len(clf.class_names)])
    calibrated = clf.proba_of(logits)
    return {
        "temperature": clf.temperature,
        "ece_before": expected_calibration_error(raw, labels),
        "ece_after": expected_calibration_error(calibrated, labels),
        "reliability_before": reliability(raw, labels),
        "reliability_after": reliability(calibrated, labels),
    }


def unknown_report(
    clf: Classifier, known_logits: np.ndarray, unknown_logits: dict[str, np.ndarray], known_name: str
) -> dict[str, Any]:
    """How well each score separates ``known_logits`` (items of the known classes) from every source of
    ``unknown_logits``; at the model's own threshold, the share refused and caught (overall and by source)."""
    known = scores(clf, known_logits)
    unknown = {source: scores(clf, z) for source, z in unknown_logits.items()}
    pooled = {m: np.concatenate([u[m] for u in unknown.values()]) for m in known}
    report: dict[str, Any] = {
        "known": known_name,
        "n_known": len(known_logits),
        "n_unknown": {source: len(z) for source, z in unknown_logits.items()},
        "auroc": {m: auroc(known[m], pooled[m]) for m in known},
    }
    if clf.has_unknown_output:
        threshold = clf.unknown_threshold
        report |= {
            "threshold": threshold,
            "known_refused": float((known["unknown"] > threshold).mean()),
            "unknown_caught": float((pooled["unknown"] > threshold).mean()),
            "caught_by_source": {s: float((u["unknown"] > threshold).mean()) for s, u in unknown.items()},
            "roc": roc_curve(known["unknown"], pooled["unknown"]),
        }
    return report
