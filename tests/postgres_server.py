"""A throwaway PostgreSQL server for tests, from the ``pgserver`` wheel (requirements-dev.txt): real
PostgreSQL binaries installed by pip, so CI needs neither apt nor Docker.

The server listens only on a Unix socket inside its data folder, so it needs no free TCP port. PostgreSQL
refuses to run as root; as root, pgserver runs it as a system user ``pgserver`` that it creates with
``useradd`` and lets that user traverse the folders above the data folder (chmod o+rx). That is why the
data folder is a fresh folder in the system temp dir and not under pytest's tmp_path: pytest keeps
/tmp/pytest-of-root private (0700) and re-tightens it whenever a session starts, which would lock the
server out of its own data.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url


class PostgresServer:
    """One running server with its data in ``folder``; ``new_database()`` for each test. ``stop()`` keeps
    the data (PostgresServer(folder) starts it again), ``remove()`` deletes it too."""

    def __init__(self, folder: Path) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
            warnings.simplefilter("ignore")
            import pgserver  # dev-only dependency, imported here so a missing one is a skip, not an import error

            self._server = pgserver.get_server(folder, cleanup_mode="stop")
        self.folder = folder
        self.url: URL = make_url(self._server.get_uri()).set(drivername="postgresql+psycopg")
        self._names = itertools.count()

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"test_{next(self._names)}"  # made here, never user input: safe to put in the SQL
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE refuses transactions
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return self.url.set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        self._server.cleanup()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> tuple[PostgresServer | None, str]:
    """A running server in a new temp folder, or None and the reason it could not start."""
    folder = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    try:
        return PostgresServer(folder), ""
    except Exception as e:  # noqa: BLE001 - whatever the cause, the caller skips (or fails in CI) with it
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"PostgreSQL could not be started with pgserver: {type(e).__name__}: {e}"
