"""Visitor feedback in the app, run headless with AppTest: "Was this right?" on the draw page (opt-in saving, labels,
the rate limit, a database that cannot be opened) and the "Visitors' drawings" gallery (paging, filters, accuracy
beside MNIST's, deleting behind the admin password).

Every test has its own SQLite database in tmp_path ($PLAYGROUND_DB_URL), so the app's store, cached per database
URL, is never shared between tests.
"""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.feedback_page import PASSWORD_ENV
from app.logic import checkpoints
from app.logic.feedback_view import strokes_from_canvas
from app.shared import saved_report
from feedback import NOT_A_DIGIT, FeedbackStore, RateLimiter
from feedback.store import DB_URL_ENV
from models.checkpoint import sha256_of
from models.registry import BY_KEY
from tests.app_helpers import stroke_canvas
from tests.test_app_pages import FakeCanvas, metrics, page, texts

ONE = [(150, 40), (146, 140), (142, 240)]  # a stroke every model reads as a digit
SEVEN = [(70, 50), (210, 50), (120, 240)]
SHA = "ab" * 32


class StrokeCanvas(FakeCanvas):
    """The stand-in canvas, also returning the strokes as the real component does: fabric.js path objects."""

    points: list[tuple[int, int]] = []

    def draw(self, points: list[tuple[int, int]]) -> None:
        self.points, self.drawing = points, stroke_canvas(points, 20)

    def st_canvas(self, **kwargs: Any) -> types.SimpleNamespace:
        result = super().st_canvas(**kwargs)
        (x0, y0), *rest = self.points
        path = [["M", x0, y0], *(["Q", x0, y0, x, y] for x, y in rest[:-1]), ["L", *rest[-1]]]
        result.json_data = {"version": "7.4.0", "objects": [{"type": "Path", "path": path, "strokeWidth": 20}]}
        return result


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty database for this test, and no admin password from the environment."""
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    monkeypatch.setenv(DB_URL_ENV, url)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    return url


@pytest.fixture
def canvas(monkeypatch: pytest.MonkeyPatch) -> StrokeCanvas:
    fake = StrokeCanvas()
    fake.draw(ONE)
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = fake.st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    return fake


def saved(url: str) -> list:
    with FeedbackStore(url) as store:
        return store.list()


def opted_in(canvas: StrokeCanvas) -> AppTest:
    """The draw page with the drawing's answers and the "keep" box ticked."""
    at = page("draw_page").run()
    assert not at.exception and len(at.metric) == 3
    return at.checkbox(key="feedback_keep").check().run()


def test_strokes_from_what_the_browser_sent() -> None:
    scene = {"objects": [{"type": "Path", "path": [["M", 1, 2], ["Q", 1, 2, 3.5, 4], ["L", 5, 6]]},
                         {"type": "path", "path": [["M", 7, 8]]},  # fabric.js before version 6
                         {"type": "Rect"}, {"type": "Path", "path": "M 1 2"}, {"type": "Path", "path": [["Z"], 3]},
                         "junk", {"type": "Path", "path": [["L", "x", None]]}]}
    assert strokes_from_canvas(scene, 280, 280, 20) == {
        "paths": [[[1, 2], [3.5, 4], [5, 6]], [[7, 8]]], "width": 280, "height": 280, "pen_width": 20}
    for junk in (None, [], {"objects": None}, {"objects": "all"}):
        assert strokes_from_canvas(junk, 280, 280, 20)["paths"] == []


# --- "Was this right?" on the draw page ----------------------------------------------------------------
def test_nothing_is_kept_without_the_box(db: str, canvas: StrokeCanvas) -> None:
    at = page("draw_page").run()
    assert not at.exception and "Was this right?" in texts(at.markdown)
    keep = at.checkbox(key="feedback_keep")
    assert keep.value is False
    for kept in ("28 × 28 digit", "vector paths", "answer and confidence", "the label", "the time",
                 "hashes of the model files", "Not kept: your IP address", "salted hash"):
        assert kept in keep.proto.help
    assert at.button(key="feedback_yes").disabled and at.button(key="feedback_save").disabled
    assert at.selectbox(key="feedback_label").disabled
    assert "Nothing is kept unless you tick the box." in texts(at.caption)
    at.run()
    assert not at.exception and not [m for m in texts(at.success).splitlines() if "Saved" in m]
    assert not Path(db.removeprefix("sqlite:///")).exists()  # the database was not even opened


def test_confirming_saves_one_drawing_with_every_answer(db: str, canvas: StrokeCanvas) -> None:
    at = opted_in(canvas)
    answers = metrics(at)  # display name -> digit shown
    guess = max(answers.values(), key=list(answers.values()).count)
    yes = at.button(key="feedback_yes")
    assert not yes.disabled and yes.label == f"Yes, it's {guess}"
    yes.click().run()
    assert not at.exception
    (drawing,) = saved(db)
    assert f"Saved as drawing #{drawing.id}, labelled {guess}. Thank you!" in texts(at.success)
    assert drawing.label == int(guess)
    names = {"numpy_mlp": "NumPy MLP", "torch_mlp": "PyTorch MLP", "digit_cnn": "Digit CNN"}
    assert {key: str(a.answer) for key, a in drawing.answers.items()} == {k: answers[n] for k, n in names.items()}
    for key, answer in drawing.answers.items():
        assert 0.1 < answer.confidence <= 1
        assert answer.checkpoint_sha256 == sha256_of(checkpoints.checkpoint_path(BY_KEY[key]))
    with FeedbackStore(db) as store:  # a listing leaves the strokes out: read the drawing itself
        strokes = store.get(drawing.id).strokes
    assert strokes == {"paths": [[list(p) for p in ONE]], "width": 280, "height": 280, "pen_width": 20}
    assert drawing.digit.shape == (28, 28) and drawing.digit.any()
    at.run()  # the same drawing again: kept once, the buttons are gone
    assert not [b for b in at.button if b.key == "feedback_yes"]
    assert len(saved(db)) == 1


@pytest.mark.parametrize("label", [7, NOT_A_DIGIT])
def test_giving_another_label_saves_it(db: str, canvas: StrokeCanvas, label: int) -> None:
    at = opted_in(canvas)
    assert at.button(key="feedback_save").disabled  # nothing picked yet
    at.selectbox(key="feedback_label").set_value(label).run()
    at.button(key="feedback_save").click().run()
    assert not at.exception
    (drawing,) = saved(db)
    assert drawing.label == label and len(drawing.answers) == 3
    shown = "not a digit" if label == NOT_A_DIGIT else "7"
    assert f"labelled {shown}. Thank you!" in texts(at.success)


def test_saving_too_fast_is_refused(db: str, canvas: StrokeCanvas, monkeypatch: pytest.MonkeyPatch) -> None:
    # The app's store (new for this test's database) gets a limiter of one save, refilled in ~17 minutes.
    monkeypatch.setattr("feedback.store.RateLimiter", functools.partial(RateLimiter, rate=0.001, burst=1))
    at = opted_in(canvas)
    at.button(key="feedback_yes").click().run()
    assert "Saved as drawing" in texts(at.success)
    canvas.draw(SEVEN)  # a second drawing, straight after
    at.run()
    at.button(key="feedback_yes").click().run()
    assert not at.exception
    assert "Not saved: too many drawings saved in a short time" in texts(at.warning)
    assert len(saved(db)) == 1
    assert len(at.metric) == 3  # the answers are still there


@pytest.mark.parametrize("url", ["sqlite:////proc/no-such-folder/feedback.sqlite3", "postgresql://127.0.0.1:1/x"])
def test_a_database_that_cannot_be_opened_turns_saving_off(db: str, canvas: StrokeCanvas, url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DB_URL_ENV, url)
    at = opted_in(canvas)
    assert not at.exception
    assert len(at.metric) == 3 and at.subheader.values == ["What the models see"]
    assert "Saving drawings is off: feedback database unavailable" in texts(at.warning)
    assert not [b for b in at.button if b.key in ("feedback_yes", "feedback_save")]


# --- the gallery ----------------------------------------------------------------------------------------
def fill(url: str) -> dict[str, int]:
    """30 drawings: 26 ones every model reads right, then four chosen for the filters (ids by name)."""
    def answers(numpy: int, torch: int, cnn: int) -> dict[str, tuple[int, float, str]]:
        return {"numpy_mlp": (numpy, 0.9, SHA), "torch_mlp": (torch, 0.8, SHA), "digit_cnn": (cnn, 0.7, SHA)}

    strokes = {"paths": [[[1, 2], [3, 4]]], "width": 280, "height": 280, "pen_width": 20}
    digit = np.zeros((28, 28), np.uint8)
    with FeedbackStore(url, limiter=RateLimiter(burst=100)) as store:
        for _ in range(26):
            store.add(digit, strokes, 1, answers(1, 1, 1), "visitor")
        special = {"agreed_right": (3, answers(3, 3, 3)), "split_one_right": (3, answers(3, 5, 3)),
                   "split_all_wrong": (4, answers(1, 2, 1)), "agreed_all_wrong": (NOT_A_DIGIT, answers(7, 7, 7))}
        return {name: store.add(digit, strokes, label, a, "visitor") for name, (label, a) in special.items()}


def captions(at: AppTest) -> list[str]:
    return [image.caption for element in at.get("image") for image in element.proto.imgs]


def delete_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("gallery_delete_")]


def test_empty_gallery(db: str) -> None:
    at = page("feedback_page").run()
    assert not at.exception and at.title[0].value == "Visitors' drawings"
    assert "No drawings yet" in texts(at.info)


def test_gallery_pages_filters_and_accuracy(db: str, digit_classifiers) -> None:
    ids = fill(db)
    at = page("feedback_page").run()
    assert not at.exception
    assert len(captions(at)) == 24 and "30 drawings match" in texts(at.caption)
    assert captions(at)[0] == f"#{ids['agreed_all_wrong']} · not a digit · Digit CNN 7, NumPy MLP 7, PyTorch MLP 7"
    at.number_input(key="gallery_page").set_value(2).run()
    assert len(captions(at)) == 6
    table = at.dataframe[0].value.set_index("Model")
    assert table["Visitors' drawings"].to_dict() == {"Digit CNN": "93.3%", "NumPy MLP": "93.3%", "PyTorch MLP": "90.0%"}
    assert (table["Drawings"] == 30).all()
    for spec in checkpoints.DIGIT_MODELS:
        clf = digit_classifiers[spec.key]
        figure = saved_report(spec, clf).accuracy
        assert table.loc[clf.name, "MNIST"] == (f"{figure[0]:.1%} ({figure[1]})" if figure else "no saved evaluation")

    def shown(label: int | None = None, disagreed: bool = False, all_wrong: bool = False) -> list[str]:
        box = at.selectbox(key="gallery_label")
        box.select_index(0) if label is None else box.set_value(label)  # option 0 is None, "any"
        at.checkbox(key="gallery_disagreed").set_value(disagreed)
        at.checkbox(key="gallery_all_wrong").set_value(all_wrong).run()
        assert not at.exception
        return [c.split(" ")[0] for c in captions(at)]

    assert shown(3) == [f"#{ids['split_one_right']}", f"#{ids['agreed_right']}"]  # newest first, page 1 again
    assert shown(disagreed=True) == [f"#{ids['split_all_wrong']}", f"#{ids['split_one_right']}"]
    assert shown(all_wrong=True) == [f"#{ids['agreed_all_wrong']}", f"#{ids['split_all_wrong']}"]
    assert shown(disagreed=True, all_wrong=True) == [f"#{ids['split_all_wrong']}"]
    assert shown(NOT_A_DIGIT) == [f"#{ids['agreed_all_wrong']}"]
    assert len(shown(1)) == 24
    assert "26 drawings match" in texts(at.caption)
    assert shown(7) == [] and "No drawing matches these filters." in texts(at.info)


def test_gallery_is_read_only_without_a_password(db: str) -> None:
    fill(db)
    at = page("feedback_page").run()
    assert not at.exception and len(captions(at)) == 24
    assert delete_buttons(at) == [] and not at.text_input
    assert "Read-only: no admin password is configured" in texts(at.caption)


@pytest.mark.parametrize("where", ["secrets", "env"])
def test_deleting_needs_the_admin_password(db: str, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    ids = fill(db)
    at = page("feedback_page")
    if where == "secrets":
        at.secrets["admin_password"] = "open sesame"
    else:
        monkeypatch.setenv(PASSWORD_ENV, "open sesame")
    at.run()
    assert delete_buttons(at) == []
    at.text_input(key="gallery_password").input("open sesam").run()
    assert "Wrong password." in texts(at.error) and delete_buttons(at) == []
    at.text_input(key="gallery_password").input("open sesame").run()
    assert not at.error and len(delete_buttons(at)) == 24
    at.button(key=f"gallery_delete_{ids['split_all_wrong']}").click().run()
    assert not at.exception
    assert f"Deleted drawing #{ids['split_all_wrong']}." in texts(at.info)
    assert "29 drawings match" in texts(at.caption)
    with FeedbackStore(db) as store:
        assert store.count() == 29 and store.get(ids["split_all_wrong"]) is None
