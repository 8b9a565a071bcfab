"""Driving the app in headless Chromium like a person does: open a page, draw a digit with the mouse, upload
a photo, wait for the answers, look for trouble, take a screenshot. The browser tests, the load test and
``python -m benchmarks`` all use this one driver (``playwright.async_api``, so many users can share one loop).

Every selector the driver needs, and the JavaScript it asks the page, is in ``benchmarks.app_ui``.
Every wait is for a condition, with a generous timeout: a busy 2-core machine can be slow, never wrong.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import app_ui as ui
from models.registry import models_for

if TYPE_CHECKING:  # playwright is a development requirement: imported only when a browser is driven
    from playwright.async_api import Browser, Page

CHROMIUM = Path(os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium"))  # `playwright install` cannot download
CHROMIUM_ARGS = [  # keep Chromium off the (closed) network and out of the GPU
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 1500}  # the README screenshots' size
WAIT_S = 120.0  # the longest any single wait may take; generous for 20 users on a loaded 2-core machine
# A stroke the page has not sent to the server after this long was lost in the browser (a starved page can
# drop one): it is drawn again, once, as a person would; AppPage.redraws counts it. Answers to a stroke that
# was sent are waited for up to WAIT_S.
STROKE_SENT_S = 30.0
N_DIGIT_MODELS = 3  # NumPy MLP, PyTorch MLP, CNN

class PageTrouble(RuntimeError):
    """The page showed an exception or an error box instead of the answers."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Answers:
    """What the page showed after an action and when, in ms after the action (the page's own clock).

    ``shown``: the answers are on screen; ``complete``: the script run is over and every image has loaded;
    ``sent``: the page sent the action to the server (for a stroke: the canvas component's own delay)."""

    values: list[str]
    shown_ms: float
    complete_ms: float  # NaN unless asked for
    sent_ms: float  # NaN if nothing was sent after the action


@dataclass
class AppPage:
    """One user: a browser context of its own (own cookies, own Streamlit session) showing the app."""

    page: Page
    base_url: str
    js_errors: list[str] = field(default_factory=list)
    reloads: int = 0  # page loads retried because the first one never became ready
    redraws: int = 0  # strokes drawn again because the page never sent the first one (see STROKE_SENT_S)

    async def open(self, path: str = "") -> None:
        """Load ``base_url/path`` and wait until its first script run is done; a load that never gets there is
        retried once."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        for attempt in range(2):
            try:
                await self.page.goto(f"{self.base_url}/{path}", wait_until="domcontentloaded")
                await self.wait_ready()
                return
            except PlaywrightTimeout:
                if attempt:
                    raise
                self.reloads += 1

    async def wait_ready(self, old_title: str | None = None) -> None:
        """Wait until the page is idle, connected and titled (with a title other than ``old_title``)."""
        await self.page.wait_for_function(ui.PAGE_READY, arg=old_title, polling=100)

    async def go_to(self, path: str) -> None:
        """Follow the sidebar link to the page at ``path`` (e.g. "pets"): same session, as a person would."""
        title = await self.page.locator("h1").first.inner_text()
        await self.page.locator(ui.NAV_LINK.format(path=path)).click()
        await self.wait_ready(old_title=title)

    async def choose(self, radio: str, option: str) -> None:
        """Pick ``option`` (its label) in the radio group ``radio`` (a selector); the caller waits for what it
        brings up."""
        await self.page.locator(radio).get_by_text(option, exact=True).click()

    # -- drawing ---------------------------------------------------------------------------------------------
    async def _canvas_box(self) -> dict[str, float]:
        """Where the canvas is once it is ready for a stroke. The component loads its (empty) drawing after it
        mounts and only then turns on drawing mode, which shows as fabric.js's crosshair cursor under the
        mouse; a stroke made before that is lost, as a person's would be. The box is measured afresh each time
        because the layout can still shift while the page fills in."""
        canvas = self.page.locator(f"{ui.CANVAS}:not([data-cleared])")  # see clear_canvas
        deadline, wiggle = time.monotonic() + WAIT_S, 0
        while time.monotonic() < deadline:
            found = await canvas.evaluate_all(
                "els => els.length === 1 ? [els[0].getBoundingClientRect().toJSON(), els[0].style.cursor] : null"
            )
            if found:
                box, cursor = found
                if cursor == "crosshair":
                    return box
                wiggle ^= 1  # fabric.js sets its cursor when the mouse moves
                await self.page.mouse.move(box["x"] + box["width"] / 2 + wiggle, box["y"] + box["height"] / 2)
            await self.page.wait_for_timeout(200)  # 20 users polling faster would add to the load they measure
        raise TimeoutError("the canvas never switched to drawing mode")

    async def draw(self, digit: str) -> None:
        """Draw ``ui.STROKES[digit]`` with the mouse in one stroke."""
        await self.draw_points(ui.STROKES[digit])

    async def draw_points(self, stroke: list[tuple[float, float]]) -> None:
        """Draw one stroke through ``stroke``, points on the canvas's unit square, with the mouse."""
        box = await self._canvas_box()
        points = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in stroke]
        await self.page.mouse.move(*points[0])
        await self.page.mouse.down()
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            await self.page.mouse.move(x1, y1, steps=max(1, int(math.dist((x0, y0), (x1, y1)) / 5)))
        await self.page.evaluate("() => { window.__answersAt = undefined; }")
        await self.page.mouse.up()

    async def draw_and_read(self, digit: str, polling: float | str = "raf") -> Answers:
        """Draw ``digit`` and wait for the three answers; a stroke the page never sent to the server within
        STROKE_SENT_S is drawn again, once (counted in ``redraws``)."""
        await self.draw(digit)
        try:
            return await self.digits(polling=polling, timeout_s=STROKE_SENT_S)
        except TimeoutError:
            if await self._sent_since_action():
                return await self.digits(polling=polling, timeout_s=WAIT_S - STROKE_SENT_S)
        self.redraws += 1
        await self.draw(digit)
        return await self.digits(polling=polling)

    async def _sent_since_action(self) -> bool:
        """Whether the page sent anything to the server after the last mouse-up or upload."""
        return await self.page.evaluate("() => window.__sends.some(t => t >= (window.__action ?? Infinity))")

    async def clear_canvas(self) -> None:
        """Press "Clear the canvas" and wait until the answers are gone. The old canvas is marked, because it
        can stay in the page for a moment beside the fresh one."""
        await self.page.locator(ui.CANVAS).evaluate_all("els => els.forEach(e => { e.dataset.cleared = '1'; })")
        await self.page.locator(ui.CLEAR_BUTTON).click()
        await self.page.wait_for_function(f"() => document.querySelectorAll('{ui.METRIC}').length === 0")

    async def keep_drawing(self, label: str | None = None) -> str:
        """Under the answers: tick "Keep this drawing" (if it is not ticked yet), then confirm the models'
        answer (``label`` None) or pick ``label`` ("7", "not a digit") and save; returns the message shown."""
        # Each control reruns the page's feedback fragment: the next one is used once that rerun is over
        if not await self.page.locator(f"{ui.FEEDBACK_KEEP} input").is_checked():
            await self.page.locator(ui.FEEDBACK_KEEP).click()
            await self.wait_ready()
        if label is None:
            await self.page.locator(f"{ui.FEEDBACK_YES}:not([disabled])").click()
        else:
            await self.page.locator(f"{ui.FEEDBACK_LABEL} input[role='combobox']:not([disabled])").click()
            await self.page.locator(ui.OPTION).get_by_text(label, exact=True).click()
            await self.wait_ready()
            await self.page.locator(f"{ui.FEEDBACK_SAVE}:not([disabled])").click()
        # The answer is a success, a warning or an error box that mentions saving (the page has other boxes)
        said = self.page.locator(ui.FEEDBACK_OUTCOME).filter(has_text=re.compile("saved|saving", re.IGNORECASE))
        await said.first.wait_for(state="visible")
        return (await said.first.locator(ui.MARKDOWN).inner_text()).strip()

    async def nudge_slider(self, key: str, steps: int) -> None:
        """Move the slider with widget key ``key`` by ``steps`` (negative: left) with the keyboard, as a person
        might, and wait for the page's rerun."""
        if not steps:
            return
        slider = self.page.locator(f".st-key-{key} input[type='range']")
        for _ in range(abs(steps)):
            await slider.press("ArrowRight" if steps > 0 else "ArrowLeft")
        await self.wait_ready()

    # -- answers ---------------------------------------------------------------------------------------------
    async def answers(
        self, count: int, pattern: str, complete: bool = False, polling: float | str = "raf",
        timeout_s: float = WAIT_S,
    ) -> Answers:
        """Wait up to ``timeout_s`` until ``count`` metrics all match ``pattern`` (and, if ``complete``, the page
        is fully drawn). Times are from the last action (mouse-up or upload); raises PageTrouble if an error
        shows instead, TimeoutError if nothing does."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        script = ui.ANSWERS_COMPLETE if complete else ui.ANSWERS
        args = [count, pattern, ", ".join(ui.TROUBLE.values())]
        try:
            handle = await self.page.wait_for_function(script, arg=args, polling=polling, timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            shown = await self.page.locator(ui.METRIC_VALUE).all_inner_texts()
            raise TimeoutError(f"no {count} answers like {pattern} in {timeout_s:.0f} s; the page shows {shown}") \
                from None
        found: dict[str, Any] = await handle.json_value()
        if "trouble" in found:
            raise PageTrouble(f"error shown instead of the answers: {found['trouble']!r}")
        action, sends = await self.page.evaluate("() => [window.__action ?? NaN, window.__sends]")
        return Answers(
            found["values"],
            found["at"] - action,
            found.get("complete", math.nan) - action,
            next((t for t in sends if t >= action), math.nan) - action,
        )

    async def digits(self, complete: bool = False, polling: float | str = "raf", timeout_s: float = WAIT_S) -> Answers:
        """The three digit models' answers, once they are all on screen."""
        return await self.answers(N_DIGIT_MODELS, "^[0-9]$", complete, polling, timeout_s)

    async def metric_labels(self) -> list[str]:
        return [t.strip() for t in await self.page.locator(f"{ui.METRIC} {ui.METRIC_LABEL}").all_inner_texts()]

    async def upload_photo(self, photo: Path, polling: float | str = "raf", answer: str = "^(cat|dog|Neither\\?)$",
                           count: int = len(models_for("pets"))) -> Answers:
        """On the cats page: choose "Upload a photo", hand ``photo`` to the uploader, wait for ``count`` answers
        (one per photo model) like ``answer``. Times are from handing the file over (the page's clock)."""
        await self.choose(ui.PET_SOURCE, "Upload a photo")
        uploader = self.page.locator(ui.PET_UPLOAD)
        await uploader.wait_for(state="attached")
        await self.page.evaluate("() => { window.__answersAt = undefined; window.__action = performance.now(); }")
        await uploader.set_input_files(photo)
        return await self.answers(count, answer, polling=polling)

    # -- checks and pictures -----------------------------------------------------------------------------------
    async def trouble(self) -> list[str]:
        """Every sign of trouble in the page now: error boxes, a lost connection, JavaScript errors."""
        found = []
        for what, selector in ui.TROUBLE.items():
            found += [f"{what}: {t[:300]!r}" for t in await self.page.locator(selector).all_inner_texts()]
        state = await self.page.get_attribute(ui.APP, "data-test-connection-state")
        if state != "CONNECTED":
            found.append(f"connection state {state}")
        found += [f"JavaScript error: {e}" for e in self.js_errors]
        self.js_errors.clear()
        return found

    async def screenshot(self, path: Path) -> None:
        """Save the viewport as a PNG once the script run is over and every image has loaded."""
        await self.wait_ready()
        await self.page.wait_for_function(f"() => {ui.IMAGES_LOADED}")
        await self.page.wait_for_timeout(1500)  # charts finish their entry animation: looks, not correctness
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=path)


@asynccontextmanager
async def app_page(browser: Browser, base_url: str, path: str = "", **context_options: Any) -> AsyncIterator[AppPage]:
    """A fresh user on ``base_url/path``, ready to act; ``context_options`` go to ``Browser.new_context``."""
    context = await browser.new_context(**{"viewport": VIEWPORT, **context_options})
    context.set_default_timeout(WAIT_S * 1000)
    try:
        await context.add_init_script(ui.PAGE_HOOKS)
        user = AppPage(await context.new_page(), base_url.rstrip("/"))
        user.page.on("pageerror", lambda e: user.js_errors.append(str(e)[:300]))
        await user.open(path)
        yield user
    finally:
        await context.close()
