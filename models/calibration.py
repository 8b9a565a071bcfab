"""Honest confidence: temperature scaling (Guo et al., 2017) and the expected calibration error.

A network's softmax is often over- or under-confident. Dividing its logits by one number T, fitted on
validation data to minimise the negative log-likelihood, fixes most of that without changing any answer.
The expected calibration error (ECE) measures what is left: sort answers into 15 equal-width confidence
bins and average |accuracy - confidence| over the bins, weighted by how many answers each holds.
NumPy only.
"""

from __future__ import annotations

import numpy as np

BINS = 15


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, C) logits, stable for large magnitudes (subtract the row maximum)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of (N, C) logits divided by ``temperature``; rows sum to 1."""
    return np.exp(log_softmax(np.asarray(logits, np.float64) / temperature))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of integer ``labels`` (N,) under softmax(logits / temperature)."""
    return float(-log_softmax(np.asarray(logits, np.float64) / temperature)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 that minimises the NLL of ``labels`` under softmax(logits / T).

    The NLL is convex in 1/T, so a coarse grid over log T followed by golden-section search on the best
    bracket finds the minimum to about 1e-4 relative precision.
    """
    grid = np.linspace(np.log(0.05), np.log(20.0), 61)
    losses = [nll(logits, labels, float(np.exp(g))) for g in grid]
    best = int(np.argmin(losses))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if nll(logits, labels, float(np.exp(a))) < nll(logits, labels, float(np.exp(b))):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Per confidence bin (equal widths over [0, 1]): lower edge, mean confidence, accuracy, count.

    probs: (N, C) probabilities; labels: int (N,). Empty bins have NaN confidence and accuracy.
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)  # confidence 1.0 goes in the last bin
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, confidence, bins) / count
        accuracy = np.bincount(which, correct, bins) / count
    return {"lower": (np.arange(bins) / bins).tolist(), "confidence": mean_conf.tolist(),
            "accuracy": accuracy.tolist(), "count": count.tolist()}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE: sum over bins of (count / N) * |accuracy - mean confidence|, with ``bins`` equal-width bins."""
    r = reliability(probs, labels, bins)
    count = np.asarray(r["count"], np.float64)
    gaps = np.abs(np.nan_to_num(np.asarray(r["accuracy"]) - np.asarray(r["confidence"])))
    return float((count * gaps).sum() / count.sum())
