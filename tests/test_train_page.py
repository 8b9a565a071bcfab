"""The "Train your own" page run headless with AppTest, on the bundled subset (PLAYGROUND_DATA_DIR points at
an empty folder) and a queue of its own for each test. AppTest runs the page in this process, so a test
reaches the run it started through ``at.session_state`` and waits for it there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.logic import training_queue
from app.logic.live_run import LiveRun
from app.logic.training_queue import TrainingQueue
from models.datasets import DATA_ENV
from models.numpy_mlp import NumpyMLP
from tests.test_live_training import started_training

SCRIPT = """
import streamlit as st
from app.train_page import render, your_mlp
render()
mine = your_mlp()
st.text(f"your_mlp: {mine.name if mine else None}")
"""


@pytest.fixture(autouse=True)
def bundled_data_and_own_queue(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    monkeypatch.setattr(training_queue, "_QUEUE", TrainingQueue(2))


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not app.exception
    return app


def start(at: AppTest, hidden: str = "16", epochs: int = 1, **numbers: float) -> AppTest:
    at.text_input(key="train_hidden").set_value(hidden)
    at.number_input(key="train_epochs").set_value(epochs)
    for key, value in numbers.items():
        at.number_input(key=f"train_{key}").set_value(value)
    return at.button(key="train_start").click().run()


def live_run(at: AppTest) -> LiveRun:
    return at.session_state["live_run"]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_the_page_and_its_controls(at: AppTest) -> None:
    assert at.title.values == ["Train your own network"]
    assert "bundled subset of MNIST" in at.caption[0].value
    assert at.text_input(key="train_hidden").value == "256, 128"
    defaults = {key: at.number_input(key=f"train_{key}").value for key in ("lr", "batch", "epochs", "l2", "dropout")}
    assert defaults == {"lr": 0.002, "batch": 128, "epochs": 10, "l2": 0.0, "dropout": 0.2}
    assert not at.button(key="train_start").disabled and at.button(key="train_stop").disabled
    assert "press **Start**" in texts(at.info) and "your_mlp: None" in texts(at.text)
    assert "0 of 2 training slots busy" in texts(at.caption)


def test_start_shows_progress_and_stop_stops(at: AppTest) -> None:
    start(at, epochs=50)
    assert not at.exception and len(at.error) == 0
    run = live_run(at)
    assert at.button(key="train_start").disabled and not at.button(key="train_stop").disabled
    assert len(at.progress) == 1 and len(at.info) == 0  # a free slot: it trains at once, never queued
    assert started_training(run)
    at.run()
    assert re.search(r"Epoch \d+ of 50, \d+ s", at.progress[0].text)
    at.button(key="train_stop").click().run()
    assert not at.exception and run.wait(10) and run.snapshot().state == "stopped"
    at.run()  # the stop waits 2 s at most for the run to end; a loaded machine may take longer
    assert "Stopped." in texts(at.success) and not at.button(key="train_start").disabled
    assert len(at.download_button) == 1  # what it learned before the stop is kept


def test_a_finished_run_shows_its_result_and_joins_the_draw_page(at: AppTest) -> None:
    start(at, hidden="64, 32", epochs=2, batch=64)
    run = live_run(at)
    assert run.wait(60)
    at.run()
    assert not at.exception and run.snapshot().state == "done"
    assert "Finished." in texts(at.success)
    (metric,) = at.metric
    assert metric.label == "Test accuracy" and float(metric.value.rstrip("%")) > 50  # chance is 10%
    assert "500 bundled MNIST test digits" in texts(at.caption) and "Your MLP" in texts(at.caption)
    assert len(at.download_button) == 1 and len(at.get("vega_lite_chart")) == 2
    assert len(at.get("image")) == 1  # the first layer's weights
    assert "your_mlp: Your MLP" in texts(at.text)


@pytest.mark.parametrize("hidden, numbers, message", [
    ("0", {}, "1 to 2,048 units"),
    ("abc", {}, "whole numbers separated by commas"),
    ("16", {"lr": 1e9}, "learning rate"),
    ("16", {"dropout": 1.5}, "Dropout"),
    ("16", {"batch": 0}, "batch size"),
])
def test_bad_settings_show_an_error(at: AppTest, hidden: str, numbers: dict, message: str) -> None:
    start(at, hidden, **numbers)
    assert not at.exception and message in texts(at.error)
    assert "live_run" not in at.session_state and not at.button(key="train_start").disabled


def test_a_diverging_run_shows_its_message(at: AppTest, monkeypatch) -> None:
    monkeypatch.setattr(NumpyMLP, "loss", lambda self, logits, y: float("inf"))
    start(at)
    assert live_run(at).wait(30)
    at.run()
    assert not at.exception and "The loss became infinite" in texts(at.error)
    assert len(at.download_button) == 0 and "your_mlp: None" in texts(at.text)
