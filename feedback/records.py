"""The plain values the feedback API takes and returns: labels, one model's answer, one saved drawing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

NOT_A_DIGIT = 10  # the label (and model answer) for "this is not a digit"
LABEL_NAMES = tuple(str(d) for d in range(10)) + ("not_a_digit",)  # LABEL_NAMES[label]


class Answer(NamedTuple):
    """What one model said about a drawing, and which checkpoint said it."""

    answer: int  # 0..9, or NOT_A_DIGIT
    confidence: float  # 0..1
    checkpoint_sha256: str  # 64 lowercase hex digits


@dataclass(frozen=True, eq=False)  # no ==: comparing the numpy image would be ambiguous; compare fields
class Drawing:
    """One saved drawing with the visitor's label and every model's answer."""

    id: int
    created_at: datetime  # UTC, set by the database
    digit: np.ndarray = field(repr=False)  # (28, 28) uint8, the image the models saw
    # {"paths": [[[x, y], ...], ...], "width": canvas px, "height": canvas px, "pen_width": px}; None from
    # FeedbackStore.list(), which leaves them in the database (a listing never shows them)
    strokes: dict[str, Any] | None = field(repr=False)
    label: int  # 0..9, or NOT_A_DIGIT
    answers: dict[str, Answer]  # model key -> answer
    client_hash: str  # salted sha256 of the visitor's session, never the session itself
