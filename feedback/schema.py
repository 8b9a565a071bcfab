"""The database tables as SQLAlchemy models. Alembic migrations (feedback/migrations) create them;
a test checks that the two agree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, CheckConstraint, DateTime, Float, ForeignKey, LargeBinary, SmallInteger, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SALT_KEY = "client_salt"  # settings row holding the salt of client_hash, written once by the first migration


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Small key/value facts about this database (the client-hash salt)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DrawingRow(Base):
    """One drawing a visitor saved, with the label they gave it."""

    __tablename__ = "drawings"
    __table_args__ = (CheckConstraint("label BETWEEN 0 AND 10", name="ck_drawings_label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    digit: Mapped[bytes] = mapped_column(LargeBinary)  # 28 x 28 uint8, row-major
    strokes: Mapped[str] = mapped_column(Text)  # JSON, see feedback.validation.check_strokes
    label: Mapped[int] = mapped_column(SmallInteger, index=True)  # 0..9, 10 = not a digit
    client_hash: Mapped[str] = mapped_column(String(64), index=True)
    answers: Mapped[list[AnswerRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AnswerRow.model_key"
    )


class AnswerRow(Base):
    """What one model answered for one drawing (any number of models per drawing)."""

    __tablename__ = "answers"
    __table_args__ = (
        CheckConstraint("answer BETWEEN 0 AND 10", name="ck_answers_answer"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="ck_answers_confidence"),
    )
    drawing_id: Mapped[int] = mapped_column(ForeignKey("drawings.id", ondelete="CASCADE"), primary_key=True)
    model_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[int] = mapped_column(SmallInteger)
    confidence: Mapped[float] = mapped_column(Float)
    checkpoint_sha256: Mapped[str] = mapped_column(CHAR(64))
