"""The feedback database: one SQLAlchemy engine, opened lazily and brought to the newest Alembic revision
on first use. If opening fails, the call raises StoreUnavailableError and the next call tries again, so an
app can start while its database is down. SQLite gets WAL and a busy timeout; PostgreSQL a connect timeout,
pre-pinged connections and an advisory lock while migrating. ``FeedbackStore`` runs its queries here.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from feedback.errors import StoreUnavailableError
from feedback.schema import SALT_KEY, Setting

SALT_ENV = "PLAYGROUND_FEEDBACK_SALT"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PG_CONNECT_TIMEOUT_S = 5  # a PostgreSQL server that does not answer is reported, not waited on forever
MIGRATION_LOCK_ID = 0x5EED_BACC  # PostgreSQL advisory lock held while migrating (any fixed number)
# Alembic's `context` module is one global per process, so two threads must never migrate at once.
_MIGRATION_LOCK = threading.Lock()


class Database:
    """The engine for one database URL, and the salt for visitors' hashes. Thread-safe."""

    def __init__(self, url: str, busy_timeout: float, data_dir: Path | None = None):
        """``busy_timeout``: seconds an SQLite write waits for another writer. ``data_dir``: made on first use."""
        self.url, self.busy_timeout, self._data_dir = url, busy_timeout, data_dir
        try:
            self.shown_url = make_url(url).render_as_string(hide_password=True)
        except ArgumentError:
            self.shown_url = "(not a valid database URL)"
        self._engine: Engine | None = None
        self.salt = ""
        self._open_lock = threading.Lock()

    @contextmanager
    def session(self, writes: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed at the end; database failures become StoreUnavailableError."""
        try:
            engine = self._ready().execution_options(writes=writes)
            with Session(engine) as session, session.begin():
                yield session
        except (SQLAlchemyError, CommandError, OSError) as e:
            raise StoreUnavailableError(f"feedback database unavailable ({self.shown_url}): {_reason(e)}") from e

    def close(self) -> None:
        """Close the pooled connections (a later session reconnects)."""
        with self._open_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def _ready(self) -> Engine:
        """The engine, created and migrated to the newest schema on first use (and after a failed first use)."""
        with self._open_lock:
            if self._engine is None:
                if self._data_dir is not None:
                    self._data_dir.mkdir(parents=True, exist_ok=True)
                engine = self._create_engine()
                try:
                    _migrate(engine)
                    with engine.connect() as conn:
                        salt = os.environ.get(SALT_ENV) or conn.scalar(
                            select(Setting.value).where(Setting.key == SALT_KEY)
                        )
                    if not salt:  # the first migration writes it; someone deleted it since
                        raise StoreUnavailableError(f"feedback database {self.shown_url} lacks settings.{SALT_KEY}")
                except BaseException:
                    engine.dispose()
                    raise
                self._engine, self.salt = engine, salt
            return self._engine

    def _create_engine(self) -> Engine:
        url = make_url(self.url)
        if url.drivername == "postgresql":  # SQLAlchemy would pick psycopg2; psycopg 3 is what we install
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite":
            engine = create_engine(url)
            _configure_sqlite(engine, busy_timeout_ms=int(self.busy_timeout * 1000))
            return engine
        # A server can restart under us: pre-ping replaces dead pooled connections instead of failing a call.
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S} if url.drivername == "postgresql+psycopg" else {}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): sqlite3's own handling would autocommit DDL in migrations.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")  # PRAGMA takes no bound parameters
        # WAL: readers and one writer work side by side. WAL is stored in the file, and switching a brand-new
        # file fails at once (no busy wait) while another process is creating it; that one or a later
        # connection sets it, so this one can go on.
        with suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # usual with WAL: fast commits; a power cut may lose the last
        cursor.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite; needed for ON DELETE CASCADE
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN (IMMEDIATE), so concurrent writers queue for busy_timeout
        # instead of failing on a stale read snapshot; readers never block under WAL.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writes") else "BEGIN")


def _migrate(engine: Engine) -> None:
    """``alembic upgrade head``, safe when several threads or processes open a new database at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATION_LOCK, engine.execution_options(writes=True).begin() as conn:
        # Across processes: SQLite's BEGIN IMMEDIATE (writes=True) already excludes other writers;
        # PostgreSQL needs an explicit lock, released when this transaction ends.
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _reason(error: Exception) -> str:
    """The first line of the driver's message: enough to act on, without SQL or a traceback."""
    message = str(error.orig) if isinstance(error, DBAPIError) else str(error)
    return (message.strip().splitlines() or [type(error).__name__])[0]
