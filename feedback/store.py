"""FeedbackStore: save, query, delete and export the drawings visitors label, in SQLite or PostgreSQL.

The database is chosen by the ``url`` argument, else $PLAYGROUND_DB_URL, else the SQLite file
``<$PLAYGROUND_FEEDBACK_DIR or ./data>/feedback.sqlite3``. Connecting (lazily, migrating on first use,
retrying after a failure) is ``feedback.database``'s job; this module owns the operations and their queries.

Visitors are never stored by IP or session id: ``add`` keeps sha256(salt + session id), with the salt
from $PLAYGROUND_FEEDBACK_SALT or, by default, a random one the first migration writes into the
``settings`` table (so every process and replica sharing the database agrees on it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import numbers
import os
from collections.abc import Iterable, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, case, delete, distinct, false, func, select, update
from sqlalchemy.orm import defer, selectinload
from sqlalchemy.sql import ColumnElement

from feedback.database import Database
from feedback.errors import InvalidFeedbackError, RateLimitedError, StoreUnavailableError
from feedback.exports import write_idx, write_imagefolder
from feedback.ratelimit import RateLimiter
from feedback.records import LABEL_NAMES, Answer, Drawing
from feedback.schema import AnswerRow, DrawingRow, Setting
from feedback.validation import (
    check_answers,
    check_class,
    check_digit,
    check_page,
    check_session_id,
    check_strokes,
)

DB_URL_ENV = "PLAYGROUND_DB_URL"
DIR_ENV = "PLAYGROUND_FEEDBACK_DIR"
MAX_PAGE = 500  # most drawings one list() call returns
LOG = logging.getLogger(__name__)


class FeedbackStore:
    """The visitors' labelled drawings and the models' answers. Thread-safe; one per process is enough."""

    def __init__(self, url: str | None = None, *, busy_timeout: float = 5.0, limiter: RateLimiter | None = None):
        """``busy_timeout``: seconds an SQLite write waits for another writer before giving up.
        ``limiter``: saves allowed per visitor (default: bursts of 10, then 1 per second)."""
        env_url = os.environ.get(DB_URL_ENV)
        data_dir = None if url or env_url else Path(os.environ.get(DIR_ENV) or "data").resolve()
        self.url = url or env_url or f"sqlite:///{data_dir / 'feedback.sqlite3'}"
        self.limiter = limiter or RateLimiter()
        self._db = Database(self.url, busy_timeout, data_dir)
        self._session = self._db.session

    # --- the API -------------------------------------------------------------------------------------

    def add(
        self,
        digit: np.ndarray,
        strokes: Mapping[str, Any],
        label: int,
        answers: Mapping[str, tuple[int, float, str]],
        session_id: str,
    ) -> int:
        """Save one drawing with its label and the models' answers; returns its id.

        digit: (28, 28) integers 0..255. strokes: {"paths": [[[x, y], ...], ...], "width", "height",
        "pen_width"}. label: 0..9 or 10 (not a digit). answers: {model key: (answer, confidence, sha256)}.
        Raises InvalidFeedbackError, RateLimitedError or StoreUnavailableError.
        """
        row = DrawingRow(digit=check_digit(digit), strokes=check_strokes(strokes), label=check_class(label, "label"))
        row.answers = [AnswerRow(model_key=key, **a._asdict()) for key, a in check_answers(answers).items()]
        session_id = check_session_id(session_id)
        with self._session(writes=True) as session:
            row.client_hash = hashlib.sha256((self._db.salt + session_id).encode()).hexdigest()
            if not self.limiter.allow(row.client_hash):
                raise RateLimitedError("too many drawings saved in a short time: wait a few seconds and try again")
            session.add(row)
            session.flush()  # assigns the id
            return row.id

    def count(self, label: int | None = None, disagreed: bool | None = None, all_wrong: bool | None = None) -> int:
        """How many drawings match the filters (see ``list``)."""
        query = select(func.count()).select_from(DrawingRow).where(*_filters(label, disagreed, all_wrong))
        with self._session() as session:
            return session.scalar(query)

    def list(
        self,
        offset: int = 0,
        limit: int = 50,
        label: int | None = None,
        disagreed: bool | None = None,
        all_wrong: bool | None = None,
    ) -> list[Drawing]:
        """One page of drawings, newest first. Filters (None = either way): ``label``; ``disagreed``: the
        models did not all give the same answer; ``all_wrong``: it has answers and none equals the label."""
        offset, limit = check_page(offset, limit, MAX_PAGE)
        query = (
            select(DrawingRow)
            .where(*_filters(label, disagreed, all_wrong))
            .order_by(DrawingRow.id.desc())
            .offset(offset)
            .limit(limit)
            .options(selectinload(DrawingRow.answers), defer(DrawingRow.strokes))
        )
        with self._session() as session:  # strokes are left in the database: listing never needs them
            drawings = [_to_drawing(row, with_strokes=False) for row in session.scalars(query)]
        return [d for d in drawings if d is not None]

    def get(self, drawing_id: int) -> Drawing | None:
        """The drawing with this id, strokes included, or None (also when its row is damaged)."""
        drawing_id = _check_id(drawing_id)
        with self._session() as session:
            row = session.get(DrawingRow, drawing_id, options=[selectinload(DrawingRow.answers)])
            return None if row is None else _to_drawing(row)

    def delete(self, drawing_id: int) -> bool:
        """Delete a drawing and its answers; False if there was no such drawing."""
        query = delete(DrawingRow).where(DrawingRow.id == _check_id(drawing_id))
        with self._session(writes=True) as session:
            return session.execute(query).rowcount > 0  # answers go by ON DELETE CASCADE

    def stats(self) -> dict[str, Any]:
        """{"total": n, "labels": {"0": n, ..., "not_a_digit": n},
        "models": {key: {"drawings": n, "correct": n, "accuracy": 0..1}}}."""
        correct = func.sum(case((AnswerRow.answer == DrawingRow.label, 1), else_=0))
        with self._session() as session:
            labels = dict(session.execute(select(DrawingRow.label, func.count()).group_by(DrawingRow.label)).all())
            models = session.execute(
                select(AnswerRow.model_key, func.count(), correct)
                .join(DrawingRow)
                .group_by(AnswerRow.model_key)
                .order_by(AnswerRow.model_key)
            ).all()
        return {
            "total": sum(labels.values()),
            "labels": {name: labels.get(label, 0) for label, name in enumerate(LABEL_NAMES)},
            "models": {key: {"drawings": n, "correct": int(c), "accuracy": int(c) / n} for key, n, c in models},
        }

    def export_idx(self, folder: str | Path) -> int:
        """Write the drawings labelled 0..9 as MNIST IDX files under ``<folder>/MNIST/raw``, readable by
        ``torchvision.datasets.MNIST(root=folder, train=True or False)``; returns how many.

        MNIST has ten classes, so "not a digit" drawings are left out; train and t10k hold the same drawings.
        With no such drawing nothing is written.
        """
        rows = self._images(range(10))
        if rows:  # torchvision cannot read an IDX file of zero images, so none is written
            images = np.array([image for _, image, _ in rows], dtype=np.uint8)
            write_idx(folder, images, np.array([label for _, _, label in rows], dtype=np.uint8))
        return len(rows)

    def export_imagefolder(self, folder: str | Path) -> int:
        """Write every drawing as ``<folder>/<label>/<id>.png`` (labels "0".."9" and "not_a_digit"), the
        layout of ``torchvision.datasets.ImageFolder``; returns how many."""
        return write_imagefolder(folder, self._images(range(len(LABEL_NAMES))))

    def check(self) -> str | None:
        """None when drawings can be saved, else a short message saying why not."""
        try:
            with self._session(writes=True) as session:
                # A write that matches no row: fails if the database is unreachable, locked or read-only.
                session.execute(update(Setting).where(false()).values(value=""))
        except StoreUnavailableError as e:
            return str(e)
        return None

    def close(self) -> None:
        """Close the pooled connections (a later call reconnects)."""
        self._db.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers -------------------------------------------------------------------------------------

    def _images(self, labels: Iterable[int]) -> list[tuple[int, np.ndarray, int]]:
        """(id, image, label) of every drawing with one of these labels, oldest first."""
        query = select(DrawingRow.id, DrawingRow.digit, DrawingRow.label).where(DrawingRow.label.in_(list(labels)))
        with self._session() as session:
            return [(i, _image(digit), label) for i, digit, label in session.execute(query.order_by(DrawingRow.id))]


def _filters(label: Any, disagreed: Any, all_wrong: Any) -> list[ColumnElement[bool]]:
    """The WHERE clauses for count() and list(), all evaluated in SQL."""
    where = []
    if label is not None:
        where.append(DrawingRow.label == check_class(label, "label"))
    for name, value in (("disagreed", disagreed), ("all_wrong", all_wrong)):
        if value is not None and not isinstance(value, bool):
            raise InvalidFeedbackError(f"{name} must be True, False or None, got {value!r}")
    if disagreed is not None:
        split = (
            select(AnswerRow.drawing_id)
            .group_by(AnswerRow.drawing_id)
            .having(func.count(distinct(AnswerRow.answer)) > 1)
        )
        where.append(DrawingRow.id.in_(split) if disagreed else DrawingRow.id.not_in(split))
    if all_wrong is not None:
        wrong = and_(DrawingRow.answers.any(), ~DrawingRow.answers.any(AnswerRow.answer == DrawingRow.label))
        where.append(wrong if all_wrong else ~wrong)
    return where


def _check_id(drawing_id: Any) -> int:
    if isinstance(drawing_id, bool) or not isinstance(drawing_id, numbers.Integral):
        raise InvalidFeedbackError(f"drawing id must be an int, got {type(drawing_id).__name__}")
    return int(drawing_id)


def _image(digit: bytes) -> np.ndarray:
    return np.frombuffer(digit, dtype=np.uint8).reshape(28, 28).copy()


def _to_drawing(row: DrawingRow, with_strokes: bool = True) -> Drawing | None:
    """A row as a Drawing (its strokes parsed only ``with_strokes``), or None when the row cannot be read (a digit
    of the wrong size, strokes that are not JSON): one damaged row must not take the gallery down for everyone."""
    try:
        digit = _image(row.digit)
        strokes = json.loads(row.strokes) if with_strokes else None
    except (ValueError, TypeError):
        LOG.warning("drawing #%s is damaged (its image or strokes cannot be read): skipped", row.id)
        return None
    created = row.created_at  # SQLite returns naive UTC (CURRENT_TIMESTAMP), PostgreSQL an aware time
    return Drawing(
        id=row.id,
        created_at=created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC),
        digit=digit,
        strokes=strokes,
        label=row.label,
        answers={a.model_key: Answer(a.answer, a.confidence, a.checkpoint_sha256) for a in row.answers},
        client_hash=row.client_hash,
    )
