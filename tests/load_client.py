"""Many browser users at once against a running app: the driver behind tests/test_load.py.

One headless Chromium, one browser context (its own cookies, its own Streamlit session) per simulated user,
all driven concurrently from one asyncio loop with ``playwright.async_api``. Each user does what a person
does on the two interactive pages:

* draw-and-predict: open the "Draw a digit" page, draw one stroke on the canvas with the mouse, and wait
  until every model's ``st.metric`` shows a digit;
* upload-and-predict: go to "Cat or dog?" through the sidebar (same session), choose "Upload a photo", hand
  one of ``samples/pets/*.jpg`` to the file uploader, and wait until the prediction metric reads cat or dog.

Latency is measured from the action (the mouse lifted; the file handed over) to the predictions being
visible in the page, so it includes the websocket round trip, the script rerun, the models and the
browser's rendering. After each action the user waits for the script run to finish and then looks for
trouble: a Streamlit exception box, an error alert, a lost connection or a JavaScript error in the page.

``server_rss_bytes(port)`` measures the app's memory: the resident set of the ``streamlit run`` process
listening on that port plus all its descendants, read from /proc (no psutil needed).

Run it by hand against an app that is already running with
``python tests/load_client.py http://127.0.0.1:8501 --sessions 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from app_server import CHROMIUM, CHROMIUM_ARGS
from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
PET_PHOTOS = sorted((ROOT / "samples" / "pets").glob("*.jpg"))
N_DIGIT_MODELS = 3  # NumPy MLP, PyTorch MLP, CNN: app/logic/registry.DIGIT_MODELS

CANVAS = '[data-testid="stBidiComponentIsolated"] canvas.upper-canvas'  # CSS locators pierce open shadow roots
METRIC_VALUE = '[data-testid="stMetricValue"]'
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
TROUBLE = {
    "Streamlit exception": '[data-testid="stException"]',
    "error alert": '[data-testid="stAlertContentError"]',
}

# Single-stroke digits (one mouse-down..mouse-up, so exactly one rerun), as points on a unit square.
STROKES: list[list[tuple[float, float]]] = [
    [(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)],  # 7
    [(0.5, 0.15), (0.5, 0.85)],  # 1
    [(0.3, 0.3), (0.5, 0.15), (0.7, 0.3), (0.3, 0.8), (0.75, 0.8)],  # 2
    [(0.5, 0.15), (0.3, 0.3), (0.3, 0.7), (0.5, 0.85), (0.7, 0.7), (0.7, 0.3), (0.5, 0.15)],  # 0
    [(0.6, 0.15), (0.25, 0.6), (0.75, 0.6), (0.6, 0.45), (0.6, 0.85)],  # 4
]

# JS run while waiting for predictions: {trouble: text} as soon as an exception or error box shows (fail
# fast instead of waiting out the timeout), else the metric values once they are the expected ones, else null.
_TROUBLE_JS = f"""const bad = document.querySelector('{TROUBLE["Streamlit exception"]}, {TROUBLE["error alert"]}');
  if (bad) return {{trouble: bad.textContent.slice(0, 300)}};
  const v = [...document.querySelectorAll('{METRIC_VALUE}')].map(e => e.textContent.trim());"""
DIGITS_SHOWN = f"""() => {{
  {_TROUBLE_JS}
  return v.length === {N_DIGIT_MODELS} && v.every(t => /^[0-9]$/.test(t)) ? v : null;
}}"""
PET_SHOWN = f"""() => {{
  {_TROUBLE_JS}
  return v.length === 1 && /^(cat|dog)$/i.test(v[0]) ? v[0] : null;
}}"""


async def _wait_for_predictions(page: Page, script: str, timeout_ms: float) -> object:
    """The predictions ``script`` found in the page; raises RuntimeError if an error showed up instead."""
    found = await (await page.wait_for_function(script, timeout=timeout_ms, polling=50)).json_value()
    if isinstance(found, dict) and "trouble" in found:
        raise RuntimeError(f"error shown instead of predictions: {found['trouble']!r}")
    return found


@dataclass
class SessionOutcome:
    """What one simulated user saw: per-action latencies (ms), the predictions, and any problems."""

    index: int
    latencies_ms: dict[str, float] = field(default_factory=dict)  # "draw" / "upload" -> ms
    predictions: dict[str, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and set(self.latencies_ms) == {"draw", "upload"}


@dataclass
class LoadReport:
    """Figures for a whole run (see ``summary``)."""

    outcomes: list[SessionOutcome]
    wall_s: float
    server_rss_mb: float | None = None
    server_rss_idle_mb: float | None = None

    @property
    def errors(self) -> list[str]:
        return [f"session {o.index}: {e}" for o in self.outcomes for e in o.errors] + [
            f"session {o.index}: finished without {sorted({'draw', 'upload'} - set(o.latencies_ms))}"
            for o in self.outcomes
            if not o.errors and not o.ok
        ]

    def latencies(self, action: str | None = None) -> list[float]:
        return [ms for o in self.outcomes for a, ms in o.latencies_ms.items() if action in (None, a)]

    def summary(self) -> dict[str, object]:
        """{sessions, errors, p50_ms, p95_ms, max_ms, per-action figures, server_rss_mb, wall_s}."""
        out: dict[str, object] = {"sessions": len(self.outcomes), "errors": len(self.errors)}
        out.update(percentiles(self.latencies()))
        for action in ("draw", "upload"):
            out[action] = {"n": len(self.latencies(action)), **percentiles(self.latencies(action))}
        out["server_rss_mb"] = self.server_rss_mb
        out["server_rss_idle_mb"] = self.server_rss_idle_mb
        out["wall_s"] = round(self.wall_s, 1)
        return out


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and max in ms (nearest-rank p95 on small samples would be the max: interpolate instead)."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    if len(values) == 1:
        return {"p50_ms": round(values[0], 1), "p95_ms": round(values[0], 1), "max_ms": round(values[0], 1)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1), "max_ms": round(max(values), 1)}


# -- the server's memory ------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def server_pid(port: int) -> int:
    """The pid of the ``streamlit run`` process serving on ``port`` (found by its command line)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "streamlit" in " ".join(argv[:3]) and "run" in argv and str(port) in argv:
            return int(entry)
    raise LookupError(f"no streamlit process found serving port {port}")


def server_rss_bytes(port: int) -> int:
    """Resident memory of the streamlit server on ``port`` and all its descendant processes, in bytes."""
    todo, seen, total = [server_pid(port)], set(), 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss_bytes(pid)
        todo += _children(pid)
    return total


class PeakRss:
    """Samples ``server_rss_bytes`` every ``interval`` s in a background thread while in a ``with`` block."""

    def __init__(self, port: int, interval: float = 0.25) -> None:
        self.port, self.interval, self.peak = port, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, server_rss_bytes(self.port))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, server_rss_bytes(self.port))


# -- one simulated user --------------------------------------------------------------------------------------
async def _check_page(page: Page, outcome: SessionOutcome, where: str, js_errors: list[str]) -> None:
    """Record every sign of trouble visible in the page now."""
    for what, selector in TROUBLE.items():
        boxes = page.locator(selector)
        for k in range(await boxes.count()):
            outcome.errors.append(f"{where}: {what}: {(await boxes.nth(k).inner_text())[:300]!r}")
    state = await page.get_attribute('[data-testid="stApp"]', "data-test-connection-state")
    if state != "CONNECTED":
        outcome.errors.append(f"{where}: connection state {state}")
    body = await page.locator("body").inner_text()
    if re.search(r"Traceback \(most recent call last\)|\bException\b", body):
        outcome.errors.append(f"{where}: error text in the page")
    outcome.errors += [f"{where}: JavaScript error: {e}" for e in js_errors]
    js_errors.clear()


async def _wait_until_drawable(page: Page, at: tuple[float, float], timeout_ms: float) -> None:
    """Hover the canvas until fabric.js shows its free-drawing cursor: the component loads its (empty) initial
    drawing asynchronously after mounting and only then switches to drawing mode; a stroke made before that
    is lost, as a person's would be."""
    canvas = page.locator(CANVAS)
    deadline = time.monotonic() + timeout_ms / 1000
    wiggle = 0
    while await canvas.evaluate("e => e.style.cursor") != "crosshair":
        if time.monotonic() > deadline:
            raise TimeoutError("the canvas never switched to drawing mode")
        wiggle ^= 1
        await page.mouse.move(at[0] + wiggle, at[1])
        await asyncio.sleep(0.05)


async def _draw_and_predict(page: Page, base_url: str, outcome: SessionOutcome, timeout_ms: float) -> None:
    # The draw page is the default page, served at the base URL (its url_path "draw" is not routed).
    await page.goto(f"{base_url}/", wait_until="domcontentloaded")
    canvas = page.locator(CANVAS)
    await canvas.wait_for(state="visible", timeout=timeout_ms)
    await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)
    box = await canvas.bounding_box()
    if box is None:
        raise RuntimeError("the canvas has no bounding box")
    points = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in STROKES[outcome.index % 5]]
    await _wait_until_drawable(page, points[0], timeout_ms)
    await page.mouse.down()
    for x, y in points[1:]:
        await page.mouse.move(x, y, steps=8)
    start = time.perf_counter()
    await page.mouse.up()
    shown = await _wait_for_predictions(page, DIGITS_SHOWN, timeout_ms)
    outcome.latencies_ms["draw"] = (time.perf_counter() - start) * 1000
    outcome.predictions["draw"] = shown


async def _upload_and_predict(page: Page, outcome: SessionOutcome, timeout_ms: float) -> None:
    await page.get_by_role("link", name="Cat or dog?").click(timeout=timeout_ms)
    await page.get_by_role("heading", name="Cat or dog?").wait_for(timeout=timeout_ms)
    await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)
    choice = page.get_by_text("Upload a photo", exact=True)
    if not await choice.count():  # e.g. no pet checkpoint: the page shows why instead of the photo choice
        alerts = await page.locator('[data-testid="stAlertContainer"]').all_inner_texts()
        raise RuntimeError(f"cats page offers no upload; it says {alerts}")
    await choice.click(timeout=timeout_ms)
    uploader = page.locator(UPLOAD_INPUT)
    await uploader.wait_for(state="attached", timeout=timeout_ms)
    await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)
    photo = PET_PHOTOS[outcome.index % len(PET_PHOTOS)]
    start = time.perf_counter()
    await uploader.set_input_files(photo)
    shown = await _wait_for_predictions(page, PET_SHOWN, timeout_ms)
    outcome.latencies_ms["upload"] = (time.perf_counter() - start) * 1000
    outcome.predictions["upload"] = {"photo": photo.name, "label": shown}


async def run_session(browser: Browser, base_url: str, index: int, timeout_s: float = 90.0) -> SessionOutcome:
    """One user in a fresh browser context: draw-and-predict, then upload-and-predict, checking for errors."""
    outcome = SessionOutcome(index)
    timeout_ms = timeout_s * 1000
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)
    page = await context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda e: js_errors.append(str(e)[:300]))
    step = "draw"
    try:
        await _draw_and_predict(page, base_url, outcome, timeout_ms)
        await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)
        await _check_page(page, outcome, "draw page", js_errors)
        step = "upload"
        await _upload_and_predict(page, outcome, timeout_ms)
        await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)
        await _check_page(page, outcome, "cats page", js_errors)
    except Exception as e:  # noqa: BLE001 - every failure is a finding for the report, not a crash
        text = ""
        try:
            text = (await page.locator("section.stMain, body").first.inner_text())[:400]
        except Exception:  # noqa: BLE001
            pass
        outcome.errors.append(f"{step}: {type(e).__name__}: {str(e).splitlines()[0][:200]}; page: {text!r}")
    finally:
        await context.close()
    return outcome


async def run_load(base_url: str, sessions: int, timeout_s: float = 90.0, warm_up: bool = True) -> LoadReport:
    """``sessions`` users at once against ``base_url``; the app's memory is sampled throughout.

    With ``warm_up``, one user goes through both pages first (not counted), so that the models are loaded
    and the measured run shows steady-state serving rather than the first load.
    """
    port = urlparse(base_url).port or 80
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if warm_up:
                first = await run_session(browser, base_url, -1, timeout_s)
                if first.errors:
                    return LoadReport([first], 0.0)
            idle = server_rss_bytes(port)
            start = time.perf_counter()
            with PeakRss(port) as rss:
                users = (run_session(browser, base_url, k, timeout_s) for k in range(sessions))
                outcomes = await asyncio.gather(*users)
            wall = time.perf_counter() - start
        finally:
            await browser.close()
    return LoadReport(list(outcomes), wall, round(rss.peak / 2**20, 1), round(idle / 2**20, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL of a running app, e.g. http://127.0.0.1:8501")
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per action")
    args = parser.parse_args()
    report = asyncio.run(run_load(args.url.rstrip("/"), args.sessions, args.timeout))
    print(json.dumps(report.summary(), indent=2))
    for error in report.errors:
        print("ERROR", error)


if __name__ == "__main__":
    main()
