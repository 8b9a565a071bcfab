"""Alembic environment for the feedback tables.

FeedbackStore runs the migrations itself on open (feedback/database.py): it passes an open connection, already
inside a transaction that holds the migration lock, in ``config.attributes["connection"]``.
"""

from alembic import context

from feedback.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the feedback migrations run through feedback.FeedbackStore, which passes a connection in")
# render_as_batch: SQLite cannot ALTER most things, so later migrations copy-and-swap tables there.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():  # no-op here: the caller's transaction is used and committed by the caller
    context.run_migrations()
