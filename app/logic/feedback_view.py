"""Visitor feedback without Streamlit: what the draw page hands the feedback store (the strokes, every model's
answer), the label the models gave, and what the gallery shows (captions, the accuracy table, the admin check).

The store (``feedback/``) owns checking and saving; this module only shapes the page's values for it and back.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import numbers
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from app.logic.digits import DigitResult
from feedback import LABEL_NAMES, NOT_A_DIGIT, Drawing, FeedbackStore
from models.classifiers import Classifier

LABELS = tuple(range(len(LABEL_NAMES)))  # 0..9, then NOT_A_DIGIT
# What a visitor agrees to keep when they tick the box: shown with it, so it must stay true to ``add`` below.
KEPT = (
    "Kept: the 28 × 28 digit the models read, your strokes as vector paths, each model's answer and confidence, "
    "the label you give, the time, and the hashes of the model files. Not kept: your IP address or anything "
    "that names you; to limit how fast one visitor can save, only a salted hash of a random id of this browser "
    "tab is stored."
)


def label_name(label: int) -> str:
    """0..9 -> "7"; NOT_A_DIGIT -> "not a digit"."""
    return "not a digit" if label == NOT_A_DIGIT else str(label)


def store_url() -> str:
    """The database the store opens: $PLAYGROUND_DB_URL, else the default SQLite file (a cache key)."""
    return FeedbackStore().url  # constructing one connects to nothing


def store_problem(store: FeedbackStore) -> str | None:
    """None when drawings can be saved, else why not (a database driver that is not installed included)."""
    try:
        return store.check()
    except ImportError as e:  # e.g. mysql:// without its driver: a configuration mistake, not a crash
        return f"the database driver is not installed ({e})"


def strokes_from_canvas(json_data: Any, width: int, height: int, pen_width: int) -> dict[str, Any]:
    """The canvas component's fabric.js scene -> the store's strokes: one [x, y] list per freehand path.

    A freehand path is ``["M", x, y], ["Q", cx, cy, x, y], ..., ["L", x, y]`` in canvas pixels; each command's
    end point is kept (the control points are not on the stroke). What the browser sent is untrusted: anything
    that is not shaped like that is skipped, and the store checks the numbers.
    """
    objects = json_data.get("objects") if isinstance(json_data, Mapping) else None
    paths = []
    for obj in objects if isinstance(objects, list) else []:
        # fabric.js 6+ names the type "Path", older versions "path"
        commands = obj.get("path") if isinstance(obj, Mapping) and str(obj.get("type")).lower() == "path" else None
        points = [list(c[-2:]) for c in commands if isinstance(c, list) and len(c) >= 3
                  and all(isinstance(v, numbers.Real) for v in c[-2:])] if isinstance(commands, list) else []
        if points:
            paths.append(points)
    return {"paths": paths, "width": width, "height": height, "pen_width": pen_width}


def model_answer(prediction: Any) -> tuple[int, float]:
    """One model's (answer, confidence): its digit and that digit's probability, or NOT_A_DIGIT and the share
    the "not a digit" output gets against all digits, sigmoid(unknown score) (the score is those log-odds)."""
    if prediction.is_digit:
        return prediction.digit, prediction.confidence
    return NOT_A_DIGIT, 1.0 / (1.0 + math.exp(-prediction.unknown_score))


def answers_for(models: Mapping[str, Classifier], result: DigitResult) -> dict[str, tuple[int, float, str]]:
    """Model key -> (answer, confidence, checkpoint sha256) for the store. Only models loaded from a checkpoint
    file count: a visitor's own MLP has no checkpoint hash and means nothing to anybody else."""
    answers = {}
    for (key, clf), p in zip(models.items(), result.predictions):
        sha = clf.describe()["checkpoint"].get("sha256")
        if sha:
            answers[key] = (*model_answer(p), sha)
    return answers


def models_answer(result: DigitResult) -> int:
    """The label most models gave (NOT_A_DIGIT for a refusal; ties: the first model's), for "Yes, it's a 7"."""
    votes = [model_answer(p)[0] for p in result.predictions]
    return Counter(votes).most_common(1)[0][0]


def fingerprint(digit: np.ndarray) -> str:
    """Names one drawing, so that it is saved once however often the page reruns."""
    return hashlib.sha256(np.ascontiguousarray(digit).tobytes()).hexdigest()


def drawing_caption(drawing: Drawing, names: Mapping[str, str]) -> str:
    """ "#12 · a 7 · CNN 7, NumPy MLP 1": the id, the visitor's label and each model's answer."""
    answers = ", ".join(f"{names.get(key, key)} {'?' if a.answer == NOT_A_DIGIT else a.answer}"
                        for key, a in sorted(drawing.answers.items()))
    label = "not a digit" if drawing.label == NOT_A_DIGIT else f"a {drawing.label}"
    return f"#{drawing.id} · {label} · {answers}"


def accuracy_frame(models: Mapping[str, Mapping[str, Any]], names: Mapping[str, str],
                   mnist: Mapping[str, str]) -> pd.DataFrame:
    """One row per model in ``store.stats()["models"]``: accuracy on the visitors' drawings (and on how many),
    beside its MNIST figure (``mnist``: key -> text such as "99.2% (test)", missing: "no saved evaluation")."""
    return pd.DataFrame([{"Model": names.get(key, key), "Visitors' drawings": f"{m['accuracy']:.1%}",
                          "Drawings": m["drawings"], "MNIST": mnist.get(key, "no saved evaluation")}
                         for key, m in models.items()])


def password_matches(given: str, expected: str | None) -> bool:
    """Constant-time comparison; no configured password never matches."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
