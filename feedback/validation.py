"""Input checks for the feedback API: each function returns the value ready to store or raises
InvalidFeedbackError with a message that names the offending field."""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from feedback.errors import InvalidFeedbackError
from feedback.records import NOT_A_DIGIT, Answer

DIGIT_SHAPE = (28, 28)
MAX_STROKES_BYTES = 1_000_000  # the JSON text of one drawing's strokes
MAX_POINTS = 50_000  # all paths together; a hand-drawn digit has a few hundred
MAX_MODEL_KEY = 64
STROKE_KEYS = {"paths", "width", "height", "pen_width"}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _number(value: Any, field: str) -> int | float:
    """A finite int or float; bools and numeric strings are refused (they are almost always a bug)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidFeedbackError(f"{field} must be a number, got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value):
        raise InvalidFeedbackError(f"{field} must be finite, got {value}")
    return float(value)


def check_class(value: Any, field: str) -> int:
    """A label or model answer: an int 0..9, or 10 for "not a digit" (numpy integers accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidFeedbackError(f"{field} must be an int 0..{NOT_A_DIGIT}, got {type(value).__name__}")
    if not 0 <= value <= NOT_A_DIGIT:
        raise InvalidFeedbackError(f"{field} must be 0..9, or {NOT_A_DIGIT} for 'not a digit', got {value}")
    return int(value)


def check_digit(digit: Any) -> bytes:
    """The (28, 28) image as 784 bytes; any integer dtype is accepted if every value is 0..255."""
    array = np.asarray(digit)
    if array.shape != DIGIT_SHAPE:
        raise InvalidFeedbackError(f"digit must have shape {DIGIT_SHAPE}, got {array.shape}")
    if array.dtype.kind not in "ui":
        raise InvalidFeedbackError(f"digit must hold integers 0..255, got dtype {array.dtype}")
    if array.min() < 0 or array.max() > 255:
        raise InvalidFeedbackError(f"digit values must be 0..255, got {array.min()}..{array.max()}")
    return array.astype(np.uint8).tobytes()


def check_answers(answers: Any) -> dict[str, Answer]:
    """model key -> (answer, confidence, checkpoint sha256), each field checked."""
    if not isinstance(answers, Mapping):
        raise InvalidFeedbackError(
            f"answers must be a mapping of model key -> (answer, confidence, sha256), got {type(answers).__name__}"
        )
    checked = {}
    for key, value in answers.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_MODEL_KEY:
            raise InvalidFeedbackError(
                f"answers: model key must be a string of 1..{MAX_MODEL_KEY} characters, got {key!r}"
            )
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 3:
            raise InvalidFeedbackError(f"answers[{key!r}] must be (answer, confidence, sha256), got {value!r:.80}")
        answer, confidence, sha = value
        confidence = float(_number(confidence, f"answers[{key!r}].confidence"))
        if not 0.0 <= confidence <= 1.0:
            raise InvalidFeedbackError(f"answers[{key!r}].confidence must be in [0, 1], got {confidence}")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise InvalidFeedbackError(f"answers[{key!r}].checkpoint_sha256 must be 64 hex digits, got {sha!r:.80}")
        checked[key] = Answer(check_class(answer, f"answers[{key!r}].answer"), confidence, sha.lower())
    return checked


def check_strokes(strokes: Any) -> str:
    """The strokes as compact JSON: {"paths": [[[x, y], ...], ...], "width", "height", "pen_width"}."""
    if not isinstance(strokes, Mapping) or set(strokes) != STROKE_KEYS:
        raise InvalidFeedbackError(f"strokes must be a mapping with exactly the keys {sorted(STROKE_KEYS)}")
    paths = strokes["paths"]
    if not isinstance(paths, list):
        raise InvalidFeedbackError(f"strokes.paths must be a list of paths, got {type(paths).__name__}")
    points = 0
    clean_paths = []
    for i, path in enumerate(paths):
        if not isinstance(path, list):
            raise InvalidFeedbackError(f"strokes.paths[{i}] must be a list of [x, y] points, got {type(path).__name__}")
        points += len(path)
        if points > MAX_POINTS:  # counted before each path's points are checked, so a flood is refused early
            raise InvalidFeedbackError(f"strokes has more than {MAX_POINTS} points")
        clean_paths.append([_point(p, f"strokes.paths[{i}][{j}]") for j, p in enumerate(path)])
    clean = {"paths": clean_paths} | {k: _number(strokes[k], f"strokes.{k}") for k in ("width", "height", "pen_width")}
    text = json.dumps(clean, separators=(",", ":"))
    if len(text.encode()) > MAX_STROKES_BYTES:
        raise InvalidFeedbackError(f"strokes is {len(text.encode()):,} bytes as JSON, more than {MAX_STROKES_BYTES:,}")
    return text


def _point(point: Any, field: str) -> list[int | float]:
    if not isinstance(point, list | tuple) or len(point) != 2:
        raise InvalidFeedbackError(f"{field} must be an [x, y] pair, got {point!r:.80}")
    return [_number(point[0], field), _number(point[1], field)]


def check_session_id(session_id: Any) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise InvalidFeedbackError("session_id must be a non-empty string")
    return session_id


def check_page(offset: Any, limit: Any, max_limit: int) -> tuple[int, int]:
    for name, value, low, high in (("offset", offset, 0, None), ("limit", limit, 1, max_limit)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise InvalidFeedbackError(f"{name} must be an int >= {low}, got {value!r}")
        if high is not None and value > high:
            raise InvalidFeedbackError(f"{name} must be at most {high}, got {value}")
    return int(offset), int(limit)
