"""The browserless client (benchmarks/ws_client.py) against the real app: a stroke sent over Streamlit's websocket
protocol is read by every digit model, a second stroke in the same session too, and two sessions at once each get
their own answers. Nothing is timed against a budget: the latencies are only checked to be recorded.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from app.logic.feedback_view import strokes_from_canvas
from benchmarks.app_ui import digit_png, digit_raw
from benchmarks.load import photos_read_right
from benchmarks.ws_client import Session
from models.registry import models_for
from uploads.canvas import read_canvas

pytestmark = pytest.mark.slow
MODEL_NAMES = [m.name for m in models_for("digits")]  # the metrics' labels: NumPy MLP, PyTorch MLP, Digit CNN


def assert_read_as(answers: dict[str, str], digit: str) -> None:
    assert list(answers) == MODEL_NAMES
    assert set(answers.values()) == {digit}, f"drew {digit}, the models read {answers}"


def test_the_canvas_helpers_make_what_the_app_accepts() -> None:
    for digit in "0127":
        assert read_canvas(digit_png(digit), sandbox=False).shape == (280, 280, 4)
        (path,) = digit_raw(digit)["objects"]
        assert path["path"][0][0] == "M" and path["path"][-1][0] == "L" and path["strokeWidth"] == 20
        (stroke,) = strokes_from_canvas(digit_raw(digit), 280, 280, 20)["paths"]  # what "Keep this drawing" saves
        assert len(stroke) == len(path["path"]) and all(0 <= v <= 280 for point in stroke for v in point)


@pytest.mark.timeout(300)
def test_strokes_in_one_session_are_read_right(app_url: str) -> None:
    async def scenario() -> None:
        async with Session(app_url) as s:
            assert s.elements("heading")[0].body == "Draw a digit" and s.metrics() == {}
            assert_read_as(await s.draw(digit_png("7"), digit_raw("7")), "7")
            assert_read_as(await s.draw(digit_png("1"), digit_raw("1")), "1")
            assert s.elements("exception") == []
            assert [r.action for r in s.runs] == ["load", "draw", "draw"]
            assert all(r.status.startswith("FINISHED") and r.seconds > 0 and not math.isnan(r.seconds) for r in s.runs)
            # The stroke reran only the digit's fragment, as in the browser
            assert [r.status for r in s.runs[1:]] == ["FINISHED_FRAGMENT_RUN_SUCCESSFULLY"] * 2
            assert s.runs[-1].bytes_by_kind["metric"] > 0

    asyncio.run(scenario())


@pytest.mark.timeout(300)
def test_two_sessions_at_once_get_their_own_answers(app_url: str) -> None:
    async def student(digit: str) -> dict[str, str]:
        async with Session(app_url) as s:
            return await s.draw(digit_png(digit), digit_raw(digit))

    async def scenario() -> list[dict[str, str]]:
        return await asyncio.gather(student("0"), student("4"))

    zero, four = asyncio.run(scenario())
    assert_read_as(zero, "0")
    assert_read_as(four, "4")


@pytest.mark.timeout(300)
def test_widgets_uploads_and_other_pages(app_url: str) -> None:
    right = dict(list(photos_read_right().items())[:2])
    assert right, "no bundled photo that every photo model reads right"

    async def scenario() -> None:
        async with Session(app_url) as s:
            await s.draw(digit_png("3"), digit_raw("3"))
            await s.set_widget("clear_canvas", True)  # a new, empty canvas: no answers
            assert s.metrics() == {}
            assert_read_as(await s.draw(digit_png("2"), digit_raw("2")), "2")
            assert (await s.rerun()).status == "FINISHED_SUCCESSFULLY" and list(s.metrics()) == MODEL_NAMES
        async with Session(app_url) as s:  # one session, two pages: the sidebar's link
            assert (await s.go_to("pets")).status == "FINISHED_SUCCESSFULLY"
            assert s.elements("heading")[0].body == "Cat or dog?" and s.metrics() != {}
            await s.go_to("")
            assert s.elements("heading")[0].body == "Draw a digit" and s.metrics() == {}
        async with Session(app_url, page="pets") as s:
            assert s.elements("heading")[0].body == "Cat or dog?" and s.elements("exception") == []
            await s.set_widget("pet_source", "Upload a photo")
            for path, label in right.items():  # the answers name the photo's class: the file reached the models
                run = await s.upload("pet_upload", path.name, path.read_bytes())
                assert run.status == "FINISHED_SUCCESSFULLY" and s.elements("exception") == []
                assert set(s.metrics().values()) == {label}, (path.name, s.metrics())

    asyncio.run(scenario())
