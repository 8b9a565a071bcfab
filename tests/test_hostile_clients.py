"""What one visitor sends over the websocket is bounded before the server works on it, the visitor sees a plain
message (never a traceback), and a second visitor is unaffected. The client speaks Streamlit's own protocol, as
the browser does (benchmarks.ws_client), and sends what a hostile one would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from websockets.exceptions import ConnectionClosed

from benchmarks.app_ui import digit_png, digit_raw
from benchmarks.server import running_app, server_rss_bytes
from benchmarks.ws_client import Session
from models.registry import models_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
NAMES = [m.name for m in models_for("digits")]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with running_app(log=log) as url:
        yield url


async def read_right(url: str, digit: str = "7") -> bool:
    """A second visitor: opens the page, draws ``digit`` and gets every model's answer."""
    async with Session(url) as s:
        return await s.draw(digit_png(digit), digit_raw(digit)) == dict.fromkeys(NAMES, digit)


def test_a_message_over_the_limit_closes_only_that_connection(app_url: str) -> None:
    """A canvas value of ~3 MB (a million path points) is over server.maxMessageSize: the server drops that
    websocket before reading the value into a session, and keeps neither the value nor much memory."""
    port = int(app_url.rsplit(":", 1)[1])

    async def scenario() -> tuple[BaseException | None, bool]:
        before = server_rss_bytes(port)
        async with Session(app_url) as s:
            raw = {"objects": [{"type": "path", "path": [["L", 1.5, 2.5]] * 250_000}]}  # ~3.3 MB of JSON
            try:
                await s.draw(digit_png("1"), raw)
                refused = None
            except (ConnectionError, OSError, ConnectionClosed) as e:  # closed by the server (1009: too big)
                refused = e
        grown = server_rss_bytes(port) - before
        assert grown < 50 * 2**20, f"the server kept {grown / 2**20:.0f} MB"
        return refused, await read_right(app_url)

    refused, other_visitor_fine = asyncio.run(scenario())
    assert refused is not None and other_visitor_fine


@pytest.mark.parametrize("value", [
    '{"drawing": "not a drawing"}',  # a string where the drawing belongs
    '{"drawing": {"raw": 5, "data": 7}}',  # numbers where the scene and the image belong
    '{"drawing": {"raw": {"objects": []}, "data": "data:image/png;base64,!!!"}}',  # not base64
    json.dumps({"drawing": {"raw": {"objects": []}, "data": "data:image/png;base64," + "9" * 5000}}),  # not a PNG
])
def test_a_canvas_value_of_the_wrong_shape_gets_a_message_and_the_visitor_draws_on(app_url: str, value: str) -> None:
    async def scenario() -> tuple[list[str], list, dict[str, str]]:
        async with Session(app_url) as s:
            await s.draw(value=value)
            errors = [a.body for a in s.elements("alert") if a.format == Alert.ERROR]
            exceptions = list(s.elements("exception"))
            answers = await s.draw(digit_png("4"), digit_raw("4"))  # the same session draws on
        return errors, exceptions, answers

    errors, exceptions, answers = asyncio.run(scenario())
    assert exceptions == [] and [e for e in errors if e.startswith("The drawing could not be read")], errors
    assert answers == dict.fromkeys(NAMES, "4")


def test_secrets_stay_out_of_git() -> None:
    """README tells admins to put the admin password in .streamlit/secrets.toml: git never offers to commit it
    (tests/test_docker.py checks that the image leaves it out too)."""
    import subprocess

    from tests.conftest import ROOT

    assert subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=ROOT).returncode == 0


def test_clearing_the_caches_reaches_no_shared_state(app_url: str) -> None:
    """Any visitor can send clear_cache (the menu item is hidden, the message is honoured): it empties
    st.cache_data and st.cache_resource for the whole server. The models and the feedback store (with every
    visitor's save allowance) live outside them: the same objects before and after, and visitors read on."""
    import streamlit as st

    from app import shared
    from app.logic.checkpoints import DIGIT_MODELS, shared_model

    models, store = [shared_model(spec) for spec in DIGIT_MODELS], shared.feedback_store()
    st.cache_data.clear()  # what the server does on a clear_cache message (AppSession)
    st.cache_resource.clear()
    assert [shared_model(spec) for spec in DIGIT_MODELS] == models and all(
        a is b for a, b in zip(models, [shared_model(spec) for spec in DIGIT_MODELS]))
    assert shared.feedback_store() is store

    async def scenario() -> bool:
        async with Session(app_url) as s:
            await s.draw(digit_png("2"), digit_raw("2"))
            await s.send(BackMsg(clear_cache=True))
            await asyncio.sleep(1)
            still = await s.draw(digit_png("0"), digit_raw("0")) == dict.fromkeys(NAMES, "0")
        return still and await read_right(app_url, "3")

    assert asyncio.run(scenario())
