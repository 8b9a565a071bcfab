"""How long one prediction takes on this server, measured now (the compare page's latency column)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.classifiers import Classifier


def measure_latency(clf: Classifier, inputs: Sequence[Any], repeats: int = 15,
                    clock: Callable[[], float] = time.perf_counter) -> float:
    """Median milliseconds for one prediction of one input (after one warm-up call), on this machine's ``clock``
    (seconds)."""
    clf.predict_proba(inputs[:1])  # warm-up: first calls pay for lazy imports and allocations
    times = []
    for i in range(repeats):
        start = clock()
        clf.predict_proba(inputs[i % len(inputs) : i % len(inputs) + 1])
        times.append((clock() - start) * 1000)
    return float(np.median(times))
