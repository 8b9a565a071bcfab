"""A classroom on one server: what stays bounded while many strokes and sessions come in (figures of speed are
``python -m benchmarks``'s, never a test's). Driven over Streamlit's own websocket protocol (benchmarks.ws_client)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.app_ui import digit_png, digit_raw
from benchmarks.capacity import classroom
from benchmarks.server import server_rss_bytes
from benchmarks.ws_client import Session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
DIGITS = "012347"


def test_memory_stays_flat_over_300_strokes(app_url: str) -> None:
    """No garbage collection after each run (runner.postScriptGC = false): Python's own collector must keep up.
    A leak of 100 KB a stroke would add 20 MB between stroke 100 and stroke 300."""
    port = int(app_url.rsplit(":", 1)[1])

    async def session() -> dict[int, int]:
        rss, answers = {}, set()
        async with Session(app_url) as s:
            for i in range(300):
                digit = DIGITS[i % len(DIGITS)]
                answers.add((digit, frozenset((await s.draw(digit_png(digit), digit_raw(digit))).values())))
                if i in (100, 299):
                    rss[i] = server_rss_bytes(port)
        assert answers == {(d, frozenset({d})) for d in DIGITS}  # every stroke read right, all along
        return rss

    rss = asyncio.run(session())
    assert rss[299] - rss[100] < 10 * 2**20, f"grew {(rss[299] - rss[100]) / 2**20:.1f} MB in 200 strokes"


def test_a_class_of_ten_gets_every_answer_right(app_url: str) -> None:
    """The capacity benchmark's classroom, small: ten students, a stroke every 3 s each, no answer lost or crossed
    with another student's (each checks that all models read the digit it drew)."""
    port = int(app_url.rsplit(":", 1)[1])
    row = asyncio.run(classroom(app_url, port, students=10, turns=3))
    assert row["students"] == 10 and row["sessions_failed"] == 0 and row["wrong_or_lost"] == 0
    assert row["strokes"] == 10 * 3  # every turn of every student answered
