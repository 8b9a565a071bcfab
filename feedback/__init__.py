"""Visitor feedback on drawings: the label a visitor gives a digit they drew, and what each model answered.

This package owns storing that feedback (SQLite or PostgreSQL through SQLAlchemy, schema by Alembic
migrations in ``feedback/migrations``), checking what comes in, limiting how fast one visitor can save,
and exporting the drawings as MNIST IDX files or an ImageFolder tree for training. It never imports
streamlit or torch: the app and ``python -m training.feedback`` use it.

    store = FeedbackStore()                      # $PLAYGROUND_DB_URL, else ./data/feedback.sqlite3
    drawing_id = store.add(digit, strokes, label=3, answers={"cnn": (3, 0.98, sha)}, session_id=sid)
    store.list(limit=20, all_wrong=True)         # the newest drawings every model got wrong
"""

from feedback.errors import FeedbackError, InvalidFeedbackError, RateLimitedError, StoreUnavailableError
from feedback.ratelimit import RateLimiter
from feedback.records import LABEL_NAMES, NOT_A_DIGIT, Answer, Drawing
from feedback.store import FeedbackStore

__all__ = [
    "LABEL_NAMES",
    "NOT_A_DIGIT",
    "Answer",
    "Drawing",
    "FeedbackError",
    "FeedbackStore",
    "InvalidFeedbackError",
    "RateLimitedError",
    "RateLimiter",
    "StoreUnavailableError",
]
