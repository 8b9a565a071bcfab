"""End to end in headless Chromium against a real server: drawn digits are read right by all three models, an
MNIST sample and an uploaded photo get the right answers, every page renders without an error, the draw page
fits a phone in the dark theme; and the stroke latencies and README screenshots are measured and taken by the
same code as ``python -m benchmarks --docs``, into a temporary folder.

The browser driver is benchmarks/browser.py. No test here times anything against a budget (that is
``python -m benchmarks``); each test opens its own browser, so any one of them runs alone.
Needs Debian's chromium at /usr/bin/chromium (test.sh installs it) and Python playwright.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app.feedback_page import PASSWORD_ENV
from benchmarks import docs
from benchmarks.app_ui import APP, CANVAS, DATAFRAME, DIGIT_SOURCE, SAMPLE_NUMBER, STROKES
from benchmarks.browser import CHROMIUM, VIEWPORT, app_page, chromium
from benchmarks.latency import BUDGETS_MS, LAB, WHAT
from benchmarks.load import photos_read_right
from benchmarks.server import running_app
from feedback import FeedbackStore
from feedback.store import DB_URL_ENV
from tests.conftest import require
from tests.figures import assert_measured

pytestmark = pytest.mark.slow
MODEL_NAMES = ["NumPy MLP", "PyTorch MLP", "Digit CNN"]
GALLERY_CAPTION = '[data-testid="stImage"] [data-testid="stImageCaption"]'


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(CHROMIUM.exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with running_app(log=log) as url:
        yield url
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_drawn_digits_are_read_right_by_all_three_models(app_url: str) -> None:
    async def scenario() -> None:
        async with chromium() as browser, app_page(browser, app_url) as user:
            for digit in STROKES:
                await user.draw(digit)
                answers = await user.digits()
                assert await user.metric_labels() == MODEL_NAMES
                assert answers.values == [digit] * 3, f"drew {digit}"
                await user.clear_canvas()
            assert await user.trouble() == []

    asyncio.run(scenario())


def test_mnist_samples_are_read_right(app_url: str, digit_sample) -> None:
    _, labels = digit_sample

    async def scenario() -> None:
        async with chromium() as browser, app_page(browser, app_url) as user:
            await user.choose(DIGIT_SOURCE, "Pick a real MNIST digit")
            assert (await user.digits()).values == [str(labels[0])] * 3  # the first sample is shown first
            await user.page.locator(SAMPLE_NUMBER).fill("137")
            await user.page.locator(SAMPLE_NUMBER).press("Enter")
            await user.answers(3, f"^{labels[137]}$")  # a {labels[0]} before: waits for the new sample's answers
            assert await user.trouble() == []

    asyncio.run(scenario())


def test_uploaded_photo_gets_three_answers(app_url: str, photo_classifiers) -> None:
    """Upload a photo every photo model reads right: three answers appear side by side, all right."""
    photo, label = next(iter(photos_read_right().items()))

    async def scenario() -> None:
        async with chromium() as browser, app_page(browser, app_url) as user:
            await user.go_to("pets")
            answers = await user.upload_photo(photo)
            assert await user.metric_labels() == [clf.name for clf in photo_classifiers.values()]
            assert answers.values == [label] * 3, photo.name
            await user.wait_ready()
            assert await user.trouble() == []

    asyncio.run(scenario())


def test_photo_of_something_else_is_neither_a_cat_nor_a_dog(app_url: str, photo_classifiers,
                                                           not_pet_photo: Path) -> None:
    """A held-out photo of another kind of thing (a category no training or threshold saw): each model's card
    says what the model says (the Pet CNN: "Neither?" in the answer's place), explained in plain words."""
    from app.logic.pets import answer_of
    from uploads import load_photo

    photo = load_photo(not_pet_photo.read_bytes())
    expected = [a.label if a.is_known else "Neither?" for a in
                (answer_of(clf, photo, photo) for clf in photo_classifiers.values())]
    assert expected[-1] == "Neither?"  # the Pet CNN refuses it

    async def scenario() -> None:
        async with chromium() as browser, app_page(browser, app_url) as user:
            await user.go_to("pets")
            answers = await user.upload_photo(not_pet_photo)
            assert answers.values == expected
            await user.page.get_by_text("third output, “neither”", exact=False).wait_for()
            assert await user.trouble() == []

    asyncio.run(scenario())


@pytest.mark.parametrize("path", ["pets", "compare", "train"])
def test_every_page_renders_without_error(app_url: str, path: str) -> None:
    async def scenario() -> None:
        async with chromium() as browser, app_page(browser, app_url) as user:
            assert await user.trouble() == []  # the draw page
            await user.go_to(path)  # through the sidebar
            assert await user.trouble() == []

    asyncio.run(scenario())


def test_phone_width_and_dark_theme(app_url: str) -> None:
    async def scenario() -> None:
        async with chromium() as browser:
            phone = {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark", "is_mobile": True}
            async with app_page(browser, app_url, has_touch=True, **phone) as user:
                canvas = user.page.locator(CANVAS)
                await canvas.wait_for(state="visible")
                box = await canvas.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the whole canvas fits on a phone
                overflow = await user.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1
                background = await user.page.evaluate(f"() => getComputedStyle(document.querySelector('{APP}'))"
                                                      ".backgroundColor")
                rgb = [int(v) for v in re.findall(r"\d+", background)[:3]]
                assert sum(rgb) / 3 < 80, background  # the system's dark theme is followed
                assert await user.trouble() == []

    asyncio.run(scenario())


def test_stroke_latency_is_measured_and_recorded(app_url: str, tmp_path: Path) -> None:
    """docs/latency.json's figures, written here to a temporary file: measured, not judged."""
    docs.write_json(tmp_path / "latency.json", docs.latency_report(app_url, strokes=2, repeats=5))
    report = json.loads((tmp_path / "latency.json").read_text())
    assert [s["drawn"] for s in report["strokes"]] == list(STROKES)[:2]
    for s in report["strokes"]:
        assert list(s["read_as"].values()) == [s["drawn"]] * 3
        for key in ("canvas_ms", "answers_ms", "complete_ms"):
            assert_measured(s[key])
        assert s["canvas_ms"] < s["answers_ms"] <= s["complete_ms"]  # the order of events, not their speed
    for name in set(WHAT) - set(LAB):  # the lab's figures are server-side only: python -m benchmarks has them
        assert_measured(report[name]["median_ms"])
        if name in BUDGETS_MS:
            assert report[name]["budget_ms"] == BUDGETS_MS[name]
            assert isinstance(report[name]["within_budget"], bool)
    assert report["machine"]["cores"] >= 1


def test_readme_screenshots_are_taken(app_url: str, tmp_path: Path) -> None:
    paths = asyncio.run(docs.screenshots(app_url, tmp_path))
    assert [p.name for p in paths] == ["draw.png", "pets.png", "compare.png", "lab.png", "train.png"]  # README's
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (VIEWPORT["width"], VIEWPORT["height"])
            darkest, lightest = image.convert("L").getextrema()
            assert lightest - darkest > 100, f"{path.name} looks blank"


def test_drawings_are_kept_and_moderated_in_the_gallery(tmp_path: Path) -> None:
    """Opt in under the answers, confirm one drawing and correct another; the gallery shows both, filters them,
    and deletes one once the admin password is typed. A server of its own, with its own database."""
    require(CHROMIUM.exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    log = tmp_path / "streamlit.log"

    async def scenario(app_url: str) -> None:
        async with chromium() as browser, app_page(browser, app_url) as user:
            await user.draw("7")
            assert (await user.digits()).values == ["7"] * 3
            assert await user.keep_drawing() == "Saved as drawing #1, labelled 7. Thank you!"
            await user.clear_canvas()
            await user.draw("1")
            assert (await user.digits()).values == ["1"] * 3
            # Saying it is a 4 makes every model wrong: the gallery's filter must find it
            assert await user.keep_drawing("4") == "Saved as drawing #2, labelled 4. Thank you!"
            await user.page.wait_for_timeout(1100)  # the rate limit allows a save a second after a burst
            await user.go_to("gallery")
            gallery = user.page.locator(GALLERY_CAPTION)
            assert await gallery.count() == 2
            assert (await gallery.first.inner_text()).startswith("#2 · a 4 · ")  # newest first
            await user.page.locator(DATAFRAME).wait_for()  # the accuracy table (its component loads lazily)
            assert await user.page.locator(DATAFRAME).count() == 1
            await user.page.locator(".st-key-gallery_all_wrong label").click()
            await user.page.wait_for_function(f"() => document.querySelectorAll('{GALLERY_CAPTION}').length === 1")
            assert (await gallery.first.inner_text()).startswith("#2 · a 4 · ")
            assert await user.page.locator(".st-key-gallery_delete_2 button").count() == 0  # no password yet
            password = user.page.locator(".st-key-gallery_password input")
            await password.fill("not it")
            await password.press("Enter")
            await user.page.get_by_text("Wrong password.").wait_for()
            await password.fill("sesame")
            await password.press("Enter")
            await user.page.locator(".st-key-gallery_delete_2 button").click()
            await user.page.get_by_text("Deleted drawing #2.").wait_for()
            await user.page.get_by_text("No drawing matches these filters.").wait_for()
            assert await user.trouble() == []

    with running_app(log=log, env={DB_URL_ENV: url, PASSWORD_ENV: "sesame"}) as app_url:
        asyncio.run(scenario(app_url))
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    with FeedbackStore(url) as store:  # what the browser did is in the database
        kept = store.list(0, 10)
        assert [(d.id, d.label) for d in kept] == [(1, 7)]
        assert set(kept[0].answers) == {"numpy_mlp", "torch_mlp", "digit_cnn"}
