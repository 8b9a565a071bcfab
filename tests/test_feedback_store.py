"""The feedback store (feedback/) and its CLI (training/feedback.py), on SQLite and on a real PostgreSQL.

PostgreSQL comes from the pgserver wheel (tests/postgres_server.py); where it cannot start, its tests skip,
except in CI where that is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from feedback import (
    Answer,
    Drawing,
    FeedbackError,
    FeedbackStore,
    InvalidFeedbackError,
    RateLimitedError,
    RateLimiter,
    StoreUnavailableError,
)
from feedback.database import MIGRATIONS
from feedback.schema import AnswerRow, Base, Setting
from tests.conftest import ROOT, require
from tests.postgres_server import PostgresServer, start_postgres

SHA = "0123456789abcdef" * 4
STROKES = {"paths": [[[10, 20], [30.5, 40.25]], [[1, 2]]], "width": 280, "height": 280, "pen_width": 18}
NO_LIMIT = {"rate": 1e6, "burst": 1_000_000}  # for tests that are not about the rate limiter


def digit_for(marker: int) -> np.ndarray:
    """A (28, 28) uint8 image whose first four pixels spell ``marker``, so saved drawings can be told apart."""
    image = np.full(784, 200, dtype=np.uint8)
    image[:4] = np.frombuffer(marker.to_bytes(4, "big"), dtype=np.uint8)
    return image.reshape(28, 28)


def marker_of(image: np.ndarray) -> int:
    return int.from_bytes(image.reshape(-1)[:4].tobytes(), "big")


def save(store: FeedbackStore, marker: int, label: int = 3, answers: Any = None, session: str = "s") -> int:
    answers = {"cnn": (label, 0.9, SHA)} if answers is None else answers
    return store.add(digit_for(marker), STROKES, label, answers, session_id=session)


def fields(d: Drawing) -> tuple:
    return (d.id, d.created_at, d.digit.tobytes(), d.strokes, d.label, d.answers, d.client_hash)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server, reason = start_postgres()
    require(server is not None, reason)
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])  # PostgreSQL: slow
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A brand-new, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def store(url: str) -> Iterator[FeedbackStore]:
    with FeedbackStore(url, limiter=RateLimiter(**NO_LIMIT)) as store:
        yield store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}", limiter=RateLimiter(**NO_LIMIT)) as store:
        yield store


# --- saving and reading ------------------------------------------------------------------------------


def test_round_trip(store: FeedbackStore) -> None:
    answers = {"cnn": (3, 0.875, SHA), "numpy_mlp": (np.int64(8), np.float32(0.5), SHA.upper())}
    before = datetime.now(UTC).replace(microsecond=0)
    drawing_id = store.add(digit_for(7), STROKES, np.int64(3), answers, session_id="visitor-1")
    drawing = store.get(drawing_id)
    assert drawing is not None
    assert drawing.id == drawing_id and drawing.label == 3
    assert np.array_equal(drawing.digit, digit_for(7)) and drawing.digit.dtype == np.uint8
    assert drawing.strokes == STROKES
    assert drawing.answers == {"cnn": Answer(3, 0.875, SHA), "numpy_mlp": Answer(8, 0.5, SHA)}
    assert drawing.created_at.tzinfo == UTC
    assert before - timedelta(seconds=5) <= drawing.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    listed = store.list()[0]
    without_strokes = [f for i, f in enumerate(fields(drawing)) if i != 3]
    assert listed.strokes is None and [f for i, f in enumerate(fields(listed)) if i != 3] == without_strokes
    assert store.get(drawing_id + 1) is None


def test_a_damaged_row_is_skipped_not_fatal(sqlite_store: FeedbackStore) -> None:
    """A digit blob of the wrong size or strokes that are not JSON (a disk error, a hand edit): the listing shows
    the other drawings, and leaves strokes unread (a gallery page never parses them, however large)."""
    ids = [save(sqlite_store, marker) for marker in (1, 2, 3)]
    engine = create_engine(sqlite_store.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE drawings SET digit = :blob WHERE id = :id"), {"blob": b"short", "id": ids[0]})
        conn.execute(text("UPDATE drawings SET strokes = 'not json' WHERE id = :id"), {"id": ids[1]})
    engine.dispose()
    assert [d.id for d in sqlite_store.list()] == [ids[2], ids[1]]  # strokes not read: the second one lists fine
    assert sqlite_store.get(ids[0]) is None and sqlite_store.get(ids[1]) is None  # damaged: not a Drawing
    assert sqlite_store.get(ids[2]).strokes == STROKES


def test_client_hash_is_salted_and_never_the_session(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYGROUND_FEEDBACK_SALT", raising=False)  # the salt the first migration stored
    store = FeedbackStore(url)
    a1, a2, b = (store.get(save(store, i, session=s)) for i, s in enumerate(["alice", "alice", "bob"]))
    engine = create_engine(url)
    with engine.connect() as conn:
        salt = conn.scalar(select(Setting.value).where(Setting.key == "client_salt"))
    engine.dispose()
    assert len(salt) == 32
    assert a1.client_hash == a2.client_hash == hashlib.sha256(f"{salt}alice".encode()).hexdigest()
    assert b.client_hash != a1.client_hash
    store.close()


def test_list_pages_newest_first(store: FeedbackStore) -> None:
    ids = [save(store, i) for i in range(7)]
    assert store.count() == 7
    pages = [[d.id for d in store.list(offset=o, limit=3)] for o in (0, 3, 6, 7)]
    assert pages == [ids[6:3:-1], ids[3:0:-1], ids[:1], []]
    assert [marker_of(d.digit) for d in store.list(limit=2)] == [6, 5]


def test_filters(store: FeedbackStore) -> None:
    agreed_right = save(store, 1, 3, {"a": (3, 0.9, SHA), "b": (3, 0.8, SHA)})
    split_one_right = save(store, 2, 3, {"a": (3, 0.9, SHA), "b": (5, 0.8, SHA)})
    split_all_wrong = save(store, 3, 4, {"a": (1, 0.9, SHA), "b": (2, 0.8, SHA)})
    agreed_all_wrong = save(store, 4, 10, {"a": (7, 0.9, SHA), "b": (7, 0.8, SHA)})
    unanswered = save(store, 5, 5, {})
    cases = {
        (3, None, None): {agreed_right, split_one_right},
        (10, None, None): {agreed_all_wrong},
        (None, True, None): {split_one_right, split_all_wrong},
        (None, False, None): {agreed_right, agreed_all_wrong, unanswered},
        (None, None, True): {split_all_wrong, agreed_all_wrong},
        (None, None, False): {agreed_right, split_one_right, unanswered},
        (3, True, None): {split_one_right},
        (None, True, True): {split_all_wrong},
        (9, None, None): set(),
    }
    for (label, disagreed, all_wrong), expected in cases.items():
        query = {"label": label, "disagreed": disagreed, "all_wrong": all_wrong}
        assert {d.id for d in store.list(**query)} == expected, query
        assert store.count(**query) == len(expected), query


def test_delete_cascades_to_answers(store: FeedbackStore, url: str) -> None:
    gone = save(store, 1, answers={"a": (3, 0.9, SHA), "b": (4, 0.1, SHA)})
    kept = save(store, 2, answers={"a": (3, 0.9, SHA)})
    assert store.delete(gone) is True
    assert store.delete(gone) is False
    assert store.get(gone) is None and store.get(kept) is not None
    assert store.count() == 1
    engine = create_engine(url)
    with engine.connect() as conn:  # the database's ON DELETE CASCADE, not the ORM, removed them
        rows = conn.execute(select(AnswerRow.drawing_id, AnswerRow.model_key)).all()
    engine.dispose()
    assert rows == [(kept, "a")]


def test_stats_empty_and_filled(store: FeedbackStore) -> None:
    zero = {str(d): 0 for d in range(10)} | {"not_a_digit": 0}
    assert store.stats() == {"total": 0, "labels": zero, "models": {}}
    save(store, 1, 3, {"cnn": (3, 0.9, SHA), "mlp": (3, 0.9, SHA)})
    save(store, 2, 3, {"cnn": (3, 0.9, SHA), "mlp": (5, 0.9, SHA)})
    save(store, 3, 10, {"cnn": (10, 0.9, SHA), "mlp": (1, 0.9, SHA)})
    save(store, 4, 0, {"cnn": (6, 0.9, SHA)})
    assert store.stats() == {
        "total": 4,
        "labels": zero | {"0": 1, "3": 2, "not_a_digit": 1},
        "models": {
            "cnn": {"drawings": 4, "correct": 3, "accuracy": 0.75},
            "mlp": {"drawings": 3, "correct": 1, "accuracy": 1 / 3},
        },
    }


# --- exports -----------------------------------------------------------------------------------------


def test_export_idx_is_readable_by_torchvision_mnist(store: FeedbackStore, tmp_path: Path) -> None:
    from torchvision.datasets import MNIST

    assert store.export_idx(tmp_path / "empty") == 0 and not (tmp_path / "empty").exists()
    labels = [7, 10, 0, 9, 3, 10, 3]
    for marker, label in enumerate(labels):
        save(store, marker, label)
    assert store.export_idx(tmp_path / "out") == 5  # the two "not a digit" drawings are left out
    kept = [(m, label) for m, label in enumerate(labels) if label != 10]
    for train in (True, False):
        mnist = MNIST(root=tmp_path / "out", train=train, download=False)
        assert mnist.data.numpy().tolist() == [digit_for(m).tolist() for m, _ in kept]
        assert mnist.targets.tolist() == [label for _, label in kept]


def test_export_imagefolder_is_readable_by_torchvision(store: FeedbackStore, tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    ids = {save(store, marker, label): (marker, label) for marker, label in enumerate([4, 10, 4, 1])}
    assert store.export_imagefolder(tmp_path / "png") == 4
    folder = ImageFolder(tmp_path / "png")
    assert folder.classes == ["1", "4", "not_a_digit"]
    names = {"1": 1, "4": 4, "not_a_digit": 10}
    seen = {}
    for (path, class_index), (image, _) in zip(folder.samples, folder, strict=True):
        marker, label = ids[int(Path(path).stem)]
        assert names[folder.classes[class_index]] == label
        seen[marker] = np.asarray(image)[:, :, 0]  # ImageFolder opens PNGs as RGB
    assert sorted(seen) == [0, 1, 2, 3]
    assert all(np.array_equal(image, digit_for(m)) for m, image in seen.items())


# --- migrations ----------------------------------------------------------------------------------------


def test_migrates_an_empty_database_once(url: str) -> None:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    engine = create_engine(url)
    assert inspect(engine).get_table_names() == []
    with FeedbackStore(url, limiter=RateLimiter(**NO_LIMIT)) as store:
        assert store.check() is None  # the first call migrates
        first = save(store, 1, session="v")
    with engine.connect() as conn:
        assert {"alembic_version", "settings", "drawings", "answers"} <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []  # models == migrations
        salts = conn.execute(select(Setting.value)).scalars().all()
    with FeedbackStore(url, limiter=RateLimiter(**NO_LIMIT)) as store:  # a second open changes nothing
        second = store.get(save(store, 2, session="v"))
        assert store.count() == 2 and second.client_hash == store.get(first).client_hash
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
        assert conn.execute(select(Setting.value)).scalars().all() == salts
    engine.dispose()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@pytest.mark.slow
def test_first_open_from_several_processes(url: str) -> None:
    script = (
        "import sys, numpy as np\nfrom feedback import FeedbackStore\n"
        "s = FeedbackStore(sys.argv[1])\n"
        "print(s.add(np.zeros((28, 28), np.uint8), {'paths': [], 'width': 1, 'height': 1, 'pen_width': 1},"
        " 1, {}, sys.argv[2]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, url, f"p{i}"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    ids = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    with FeedbackStore(url) as store:
        assert sorted(d.id for d in store.list()) == sorted(ids) and store.count() == 4


# --- concurrency ---------------------------------------------------------------------------------------


def test_twenty_sessions_saving_at_once_lose_nothing(url: str) -> None:
    sessions, per_session = 20, 50
    store = FeedbackStore(url, limiter=RateLimiter(**NO_LIMIT))  # opened by the threads' first calls, at once
    errors: list[BaseException] = []

    def visitor(s: int) -> None:
        try:
            for i in range(per_session):
                save(store, s * 1000 + i, (s + i) % 11, {"m": ((s * i) % 11, 0.5, SHA)}, session=f"session-{s}")
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=visitor, args=(s,)) for s in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = [d for offset in range(0, 1000, 500) for d in store.list(offset=offset, limit=500)]
    assert store.count() == len(rows) == 1000
    assert len({d.id for d in rows}) == 1000
    markers = {marker_of(d.digit): d for d in rows}
    assert sorted(markers) == sorted(s * 1000 + i for s in range(sessions) for i in range(per_session))
    for marker, d in markers.items():
        s, i = divmod(marker, 1000)
        assert (d.label, d.answers["m"].answer) == ((s + i) % 11, (s * i) % 11)
    assert len({d.client_hash for d in rows}) == sessions
    store.close()


# --- faults --------------------------------------------------------------------------------------------


def every_call(store: FeedbackStore, out: Path) -> dict[str, Callable[[], object]]:
    return {
        "add": lambda: save(store, 1),
        "count": store.count,
        "list": store.list,
        "get": lambda: store.get(1),
        "delete": lambda: store.delete(1),
        "stats": store.stats,
        "export_idx": lambda: store.export_idx(out),
        "export_imagefolder": lambda: store.export_imagefolder(out),
    }


def assert_unavailable(store: FeedbackStore, tmp_path: Path, reason: str, calls: tuple[str, ...] = ()) -> None:
    """check() says why, and each call (default: all of them) raises StoreUnavailableError saying the same."""
    message = store.check()
    assert message is not None and "unavailable" in message and reason in message.lower(), message
    for name, call in every_call(store, tmp_path / "export").items():
        if calls and name not in calls:
            continue
        with pytest.raises(StoreUnavailableError, match="unavailable") as info:
            call()
        assert reason in str(info.value).lower(), (name, str(info.value))


@pytest.mark.parametrize("where", ["missing folder", "folder is a file"])
def test_sqlite_in_a_folder_that_cannot_hold_it(tmp_path: Path, where: str) -> None:
    parent = tmp_path / "missing" / "deeper"
    if where == "folder is a file":
        parent = tmp_path / "a_file"
        parent.write_text("not a folder")
    with FeedbackStore(f"sqlite:///{parent / 'feedback.sqlite3'}") as store:
        assert_unavailable(store, tmp_path, "unable to open database file")
    assert not (tmp_path / "missing").exists()


def test_sqlite_locked_beyond_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(f"sqlite:///{path}", busy_timeout=0.1) as store:
        save(store, 1)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process writing for a long time
        try:
            assert_unavailable(store, tmp_path, "database is locked", calls=("add", "delete"))
            assert store.count() == 1  # under WAL, reading goes on while someone else writes
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.check() is None and save(store, 2) > 0  # recovers once the lock is gone


def test_sqlite_read_only_file(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(f"sqlite:///{path}") as store:
        save(store, 1)
    path.chmod(0o444)
    # mode=ro makes SQLite itself refuse writes, so this also holds when the tests run as root
    with FeedbackStore(f"sqlite:///file:{path}?mode=ro&uri=true") as store:
        assert store.count() == 1 and store.get(1) is not None
        assert_unavailable(store, tmp_path, "readonly", calls=("add", "delete"))


def test_postgres_wrong_port(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with FeedbackStore(f"postgresql://postgres:secret@127.0.0.1:{port}/feedback") as store:
        assert_unavailable(store, tmp_path, f"port {port} failed")
        assert "secret" not in store.check()  # the password is never shown


@pytest.mark.slow
def test_postgres_server_stopped_then_back(tmp_path: Path) -> None:
    server, reason = start_postgres()
    require(server is not None, reason)
    try:
        with FeedbackStore(server.new_database()) as store:
            save(store, 1)
            server.stop()
            assert_unavailable(store, tmp_path, "failed")
            server = PostgresServer(server.folder)  # the same data, running again
            assert store.check() is None and store.count() == 1  # stale pooled connections were replaced
    finally:
        server.remove()


def test_bad_url_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    with FeedbackStore("not a url") as store:
        assert_unavailable(store, tmp_path, "could not parse")


# --- bad input -----------------------------------------------------------------------------------------

GOOD = {"digit": digit_for(1), "strokes": STROKES, "label": 3, "answers": {"m": (3, 0.5, SHA)}, "session_id": "s"}
BAD_INPUTS = {
    "digit shape": ({"digit": np.zeros((27, 28), np.uint8)}, "digit must have shape (28, 28)"),
    "digit flat": ({"digit": np.zeros(784, np.uint8)}, "digit must have shape"),
    "digit floats": ({"digit": np.zeros((28, 28))}, "digit must hold integers"),
    "digit strings": ({"digit": np.full((28, 28), "1")}, "digit must hold integers"),
    "digit over 255": ({"digit": np.full((28, 28), 256)}, "digit values must be 0..255"),
    "digit negative": ({"digit": np.full((28, 28), -1)}, "digit values must be 0..255"),
    "label 11": ({"label": 11}, "label must be 0..9, or 10"),
    "label -1": ({"label": -1}, "label must be 0..9, or 10"),
    "label string": ({"label": "3"}, "label must be an int"),
    "label float": ({"label": 3.0}, "label must be an int"),
    "label bool": ({"label": True}, "label must be an int"),
    "answers not a mapping": ({"answers": [("m", 3, 0.5, SHA)]}, "answers must be a mapping"),
    "answer string": ({"answers": {"m": ("3", 0.5, SHA)}}, "answers['m'].answer must be an int"),
    "answer 11": ({"answers": {"m": (11, 0.5, SHA)}}, "answers['m'].answer must be 0..9"),
    "confidence string": ({"answers": {"m": (3, "0.5", SHA)}}, "answers['m'].confidence must be a number"),
    "confidence NaN": ({"answers": {"m": (3, float("nan"), SHA)}}, "answers['m'].confidence must be finite"),
    "confidence 1.5": ({"answers": {"m": (3, 1.5, SHA)}}, "answers['m'].confidence must be in [0, 1]"),
    "sha not hex": ({"answers": {"m": (3, 0.5, "z" * 64)}}, "answers['m'].checkpoint_sha256 must be 64 hex"),
    "sha short": ({"answers": {"m": (3, 0.5, SHA[:63])}}, "answers['m'].checkpoint_sha256 must be 64 hex"),
    "answer pair": ({"answers": {"m": (3, 0.5)}}, "answers['m'] must be (answer, confidence, sha256)"),
    "model key empty": ({"answers": {"": (3, 0.5, SHA)}}, "answers: model key must be"),
    "strokes keys": ({"strokes": {"paths": []}}, "strokes must be a mapping with exactly the keys"),
    "strokes string point": ({"strokes": STROKES | {"paths": [[["1", 2]]]}}, "strokes.paths[0][0] must be a number"),
    "strokes NaN": ({"strokes": STROKES | {"paths": [[[float("nan"), 2]]]}}, "strokes.paths[0][0] must be finite"),
    "strokes triple": ({"strokes": STROKES | {"paths": [[[1, 2, 3]]]}}, "strokes.paths[0][0] must be an [x, y]"),
    "strokes width": ({"strokes": STROKES | {"width": "280"}}, "strokes.width must be a number"),
    "strokes over 1 MB": (
        {"strokes": STROKES | {"paths": [[[123.456789012345, 234.567890123456]] * 40_000]}},
        "bytes as json, more than 1,000,000",
    ),
    "strokes too many points": ({"strokes": STROKES | {"paths": [[[0, 0]] * 50_001]}}, "more than 50000 points"),
    "session empty": ({"session_id": ""}, "session_id must be a non-empty string"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_refused_naming_the_field(sqlite_store: FeedbackStore, case: str) -> None:
    change, message = BAD_INPUTS[case]
    with pytest.raises(InvalidFeedbackError) as info:
        sqlite_store.add(**(GOOD | change))
    assert message.lower() in str(info.value).lower()
    assert isinstance(info.value, FeedbackError) and isinstance(info.value, ValueError)
    assert sqlite_store.count() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.list(limit=0), "limit must be an int >= 1"),
        (lambda s: s.list(limit=501), "limit must be at most 500"),
        (lambda s: s.list(offset=-1), "offset must be an int >= 0"),
        (lambda s: s.list(label=11), "label must be 0..9"),
        (lambda s: s.count(disagreed="yes"), "disagreed must be True, False or None"),
        (lambda s: s.get("1"), "drawing id must be an int"),
        (lambda s: s.delete(1.0), "drawing id must be an int"),
    ],
)
def test_bad_query_arguments(sqlite_store: FeedbackStore, call: Callable, message: str) -> None:
    with pytest.raises(InvalidFeedbackError, match=message):
        call(sqlite_store)


# --- rate limit ----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_bursts_then_one_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.allow("a") for _ in range(11)] == [True] * 10 + [False]
    clock.now = 0.5
    assert limiter.allow("a") is False
    clock.now = 1.0
    assert [limiter.allow("a") for _ in range(2)] == [True, False]
    clock.now = 3.0
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert [limiter.allow("b") for _ in range(11)] == [True] * 10 + [False]  # each client has its own bucket
    clock.now = 1000.0
    assert [limiter.allow("a") for _ in range(11)] == [True] * 10 + [False]  # idle time refills to the burst only


def test_rate_limiter_is_thread_safe() -> None:
    limiter = RateLimiter(rate=1.0, burst=100, clock=FakeClock())  # time stands still: exactly 100 tokens
    allowed = []

    def spend() -> None:
        allowed.append(sum(limiter.allow("x") for _ in range(50)))

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100


def test_rate_limiter_forgets_idle_clients() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, max_clients=3)
    for client in "abc":
        limiter.allow(client)
    clock.now = 100.0  # a, b and c have long refilled
    limiter.allow("d")
    assert set(limiter._buckets) == {"d"}


def test_add_is_rate_limited_per_session(tmp_path: Path) -> None:
    clock = FakeClock()
    with FeedbackStore(f"sqlite:///{tmp_path / 'f.sqlite3'}", limiter=RateLimiter(clock=clock)) as store:
        for i in range(10):
            save(store, i, session="eager")
        with pytest.raises(RateLimitedError, match="wait a few seconds"):
            save(store, 10, session="eager")
        save(store, 11, session="patient")
        clock.now = 1.0
        save(store, 12, session="eager")
        assert store.count() == 12


# --- command line --------------------------------------------------------------------------------------


def run_cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PLAYGROUND_DB_URL": f"sqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "training.feedback", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_cli_stats_on_a_brand_new_database(tmp_path: Path) -> None:
    result = run_cli("stats", db=tmp_path / "new.sqlite3")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "total": 0,
        "labels": {str(d): 0 for d in range(10)} | {"not_a_digit": 0},
        "models": {},
    }


@pytest.mark.slow
def test_cli_export_and_delete(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    with FeedbackStore(f"sqlite:///{db}", limiter=RateLimiter(**NO_LIMIT)) as store:
        ids = [save(store, m, label) for m, label in enumerate([2, 10, 5])]

    result = run_cli("export", "--format", "idx", "--out", str(tmp_path / "idx"), db=db)
    assert result.returncode == 0 and "exported 2 drawings" in result.stdout, result.stderr
    assert (tmp_path / "idx" / "MNIST" / "raw" / "train-labels-idx1-ubyte").read_bytes()[8:] == bytes([2, 5])

    result = run_cli("export", "--format", "imagefolder", "--out", str(tmp_path / "png"), db=db)
    assert result.returncode == 0 and "exported 3 drawings" in result.stdout, result.stderr
    assert sorted(p.relative_to(tmp_path / "png").as_posix() for p in (tmp_path / "png").rglob("*.png")) == [
        f"2/{ids[0]}.png",
        f"5/{ids[2]}.png",
        f"not_a_digit/{ids[1]}.png",
    ]

    result = run_cli("delete", str(ids[0]), "999", "--db-url", f"sqlite:///{db}", db=tmp_path / "elsewhere.sqlite3")
    assert result.returncode == 1 and "deleted 1 drawing(s); not found: [999]" in result.stdout, result.stderr
    with FeedbackStore(f"sqlite:///{db}") as store:
        assert [d.id for d in store.list()] == [ids[2], ids[1]]
    assert not (tmp_path / "elsewhere.sqlite3").exists()  # --db-url won over $PLAYGROUND_DB_URL


# --- configuration -------------------------------------------------------------------------------------


def test_database_location_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYGROUND_DB_URL", raising=False)
    monkeypatch.setenv("PLAYGROUND_FEEDBACK_DIR", str(tmp_path / "feedback" / "nested"))
    with FeedbackStore() as store:
        assert store.check() is None  # the folder is created for the default SQLite file
    assert (tmp_path / "feedback" / "nested" / "feedback.sqlite3").is_file()
    monkeypatch.setenv("PLAYGROUND_DB_URL", f"sqlite:///{tmp_path / 'chosen.sqlite3'}")
    with FeedbackStore() as store:
        assert store.check() is None
    assert (tmp_path / "chosen.sqlite3").is_file()


def test_salt_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYGROUND_FEEDBACK_SALT", "pepper")
    with FeedbackStore(f"sqlite:///{tmp_path / 'f.sqlite3'}") as store:
        drawing = store.get(save(store, 1, session="alice"))
    assert drawing.client_hash == hashlib.sha256(b"pepperalice").hexdigest()
