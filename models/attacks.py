"""Attacking a digit classifier and asking it why: FGSM, PGD, saliency maps and how attacks transfer.

Everything goes through the classifier contract: ``clf.input_gradient(images, target)`` (d log p(target) /
d pixel, pixels on the 0..1 scale) and ``clf.predict``. So the NumPy MLP is attacked without torch, and a
retrained model (say, with an extra "not a digit" output) needs nothing new here.

Sign convention: the attacks are untargeted. They push log p(true label) down, so they step against its
gradient, along -sign(d log p(label) / dx). Inputs follow the input contract (uint8 0..255 or float 0..1,
(N, 28, 28)); adversarial images come back as float32 (N, 28, 28) in [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.inputs import as_digit_batch

ATTACKS = ("fgsm", "pgd")


def pgd(clf: Any, images: Any, labels: Any, eps: float, steps: int = 10, step_size: float | None = None,
        seed: int | None = None) -> np.ndarray:
    """Projected gradient descent on log p(label) in the L-infinity ball of radius ``eps`` (Madry et al., 2018).

    ``steps`` signed-gradient steps of ``step_size`` (default 2.5 eps / steps, Madry's choice: enough to reach
    the ball's edge and move along it), each projected back into the ball and into [0, 1]. Starts at the image
    itself (deterministic) or, given a ``seed``, at a uniformly random point of the ball (Madry's random start).
    images: (N, 28, 28) under the input contract; labels: int (N,) true classes -> float32 (N, 28, 28).
    """
    x0 = as_digit_batch(images)
    if not (np.isfinite(eps) and eps >= 0 and steps >= 1):
        raise ValueError(f"need eps >= 0 and steps >= 1, got eps={eps}, steps={steps}")
    if eps == 0:
        return x0.copy()
    alpha = np.float32(2.5 * eps / steps if step_size is None else step_size)
    lo, hi = np.clip(x0 - np.float32(eps), 0, 1), np.clip(x0 + np.float32(eps), 0, 1)  # the ball within [0, 1]
    x = x0 if seed is None else np.random.default_rng(seed).uniform(lo, hi).astype(np.float32)
    for _ in range(steps):
        x = np.clip(x - alpha * np.sign(clf.input_gradient(x, labels)).astype(np.float32), lo, hi)
    return x


def fgsm(clf: Any, images: Any, labels: Any, eps: float) -> np.ndarray:
    """Fast gradient sign method (Goodfellow et al., 2015): x' = clip(x - eps * sign(d log p(label) / dx), 0, 1),
    i.e. one PGD step of size ``eps`` from the image. images: (N, 28, 28); labels: int (N,) -> float32 (N, 28, 28).
    """
    return pgd(clf, images, labels, eps, steps=1, step_size=eps)


def saliency(clf: Any, image: Any, target: int, method: str = "gradient_x_input", steps: int = 32) -> np.ndarray:
    """How much each pixel of one digit (28, 28) adds to log p(target): float (28, 28), positive = for the class.

    - "gradient_x_input": x * d log p / dx, the first-order share of each pixel;
    - "integrated_gradients" (Sundararajan et al., 2017): x * the gradient averaged along the straight path from
      a black image to x (``steps`` midpoints). Complete: the map sums to log p(x) - log p(black), up to the
      error of the ``steps``-point average.
    """
    x = as_digit_batch(image)
    if len(x) != 1:
        raise ValueError(f"saliency explains one digit (28, 28), got {len(x)}")
    if method == "gradient_x_input":
        return x[0] * clf.input_gradient(x, np.array([target]))[0]
    if method == "integrated_gradients":
        alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps  # midpoints: error ~ 1 / steps^2 where smooth
        grads = clf.input_gradient(alphas[:, None, None] * x, np.full(steps, target))
        return x[0] * grads.mean(axis=0)
    raise ValueError(f"method must be 'gradient_x_input' or 'integrated_gradients', got {method!r}")


def transfer_table(classifiers: dict[str, Any], images: Any, labels: Any, eps: float,
                   method: str = "fgsm") -> dict[str, dict[str, float]]:
    """Do attacks carry over between models? table[source][target]: the share of ``images`` that ``target``
    gets wrong once ``method`` ("fgsm" or "pgd", default settings) has attacked them on ``source``. The diagonal
    is each model attacked directly (white box), the rest attacks borrowed from another model (transfer);
    at eps = 0 every row holds the clean error rates. images: (N, 28, 28); labels: int (N,).
    """
    if method not in ATTACKS:
        raise ValueError(f"method must be one of {ATTACKS}, got {method!r}")
    attack, labels = {"fgsm": fgsm, "pgd": pgd}[method], np.asarray(labels)
    table = {}
    for source, clf in classifiers.items():
        adversarial = attack(clf, images, labels, eps)
        table[source] = {target: float((other.predict(adversarial) != labels).mean())
                         for target, other in classifiers.items()}
    return table
