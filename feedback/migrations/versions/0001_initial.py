"""The initial feedback schema: settings (with the client-hash salt), drawings, answers.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    settings = op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    # Generated here, once per database, so every process and replica hashes sessions with the same salt.
    op.bulk_insert(settings, [{"key": "client_salt", "value": secrets.token_hex(16)}])
    op.create_table(
        "drawings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("digit", sa.LargeBinary, nullable=False),
        sa.Column("strokes", sa.Text, nullable=False),
        sa.Column("label", sa.SmallInteger, nullable=False),
        sa.Column("client_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("label BETWEEN 0 AND 10", name="ck_drawings_label"),
    )
    op.create_index("ix_drawings_label", "drawings", ["label"])
    op.create_index("ix_drawings_client_hash", "drawings", ["client_hash"])
    op.create_table(
        "answers",
        sa.Column("drawing_id", sa.Integer, sa.ForeignKey("drawings.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_key", sa.String(64), primary_key=True),
        sa.Column("answer", sa.SmallInteger, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("checkpoint_sha256", sa.CHAR(64), nullable=False),
        sa.CheckConstraint("answer BETWEEN 0 AND 10", name="ck_answers_answer"),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name="ck_answers_confidence"),
    )


def downgrade() -> None:
    op.drop_table("answers")
    op.drop_table("drawings")
    op.drop_table("settings")
