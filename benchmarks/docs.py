"""``python -m benchmarks --docs``: the one command that regenerates everything measured in docs/.

* docs/screenshots/draw.png, pets.png, compare.png, lab.png, train.png: the README's pictures of the pages
  (lab.png: the draw page further down, a digit under attack; train.png: a short live training run, finished);
* docs/latency.json: per stroke, end of stroke -> answers on screen in the browser, and the server's time;
* docs/load_test.json: 20 users drawing and uploading at once.

All of it runs against one real ``streamlit run`` server. The tests call the same functions with a
temporary folder, so they never touch the committed files.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from benchmarks import latency
from benchmarks.app_ui import DATAFRAME, EXPANDER, IMAGES_LOADED
from benchmarks.browser import AppPage, app_page, chromium
from benchmarks.load import USERS, run_load
from benchmarks.machine import machine
from benchmarks.server import ROOT, running_app
from models.runtime import configure_torch_threads

DOCS = ROOT / "docs"
SCREENSHOT_PHOTO = ROOT / "samples" / "pets" / "dog.10625.jpg"
STROKES_MEASURED = 10
TRAIN_EPOCHS = 2  # the train page's screenshot: a short run, its curves and weights
TRAIN_WAIT_S = 900


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


async def _draw_page(user: AppPage, folder: Path) -> None:
    await user.draw("0")
    await user.digits(complete=True)
    await user.screenshot(folder / "draw.png")


async def _pets_page(user: AppPage, folder: Path) -> None:
    await user.go_to("pets")
    await user.upload_photo(SCREENSHOT_PHOTO)
    await user.screenshot(folder / "pets.png")


async def _compare_page(user: AppPage, folder: Path) -> None:
    await user.go_to("compare")
    await user.page.locator(DATAFRAME).first.wait_for()
    await user.screenshot(folder / "compare.png")


async def _lab(user: AppPage, folder: Path) -> None:
    await user.draw("7")
    await user.digits(complete=True)
    await user.page.locator(EXPANDER).filter(has_text="Bend the digit").click()
    await user.wait_ready()  # its sliders are drawn once it is open
    await user.nudge_slider("bend_angle", 4)  # 20 degrees, 5 a step
    await user.page.locator(EXPANDER).filter(has_text="Attack it").click()
    await user.wait_ready()  # its contents are drawn once it is open
    toggle = user.page.locator(".st-key-attack_on")
    await toggle.locator("label").click()  # "Build the attack": FGSM at the default epsilon
    await user.wait_ready()
    if not await toggle.locator("input").is_checked():  # a click that landed while the page was busy
        await toggle.locator("label").click()
    await user.page.locator(DATAFRAME).nth(1).wait_for()  # the answers on the attacked digit, then the transfer table
    inside = user.page.locator(EXPANDER).filter(has_text="Inside the networks")
    await inside.click()  # computed only once opened: saliency for every model, the first model's activations
    await user.wait_ready()
    await user.page.wait_for_function(f"() => {IMAGES_LOADED}")
    await inside.evaluate("e => e.scrollIntoView()")
    await user.screenshot(folder / "lab.png")  # saliency, the attack and its transfer table; the bend above


async def _train_page(user: AppPage, folder: Path) -> None:
    await user.go_to("train")
    epochs = user.page.locator(".st-key-train_epochs input")
    await epochs.fill(str(TRAIN_EPOCHS))
    await epochs.press("Enter")
    await user.wait_ready()
    await user.page.locator(".st-key-train_start button").click()
    # The download is offered once the run has finished: seconds on a quiet CPU, minutes beside other work,
    # since the live trainer lowers its own priority
    await user.page.locator(".st-key-train_download button").first.wait_for(timeout=TRAIN_WAIT_S * 1000)
    await user.screenshot(folder / "train.png")


SHOOTS = {"draw.png": _draw_page, "pets.png": _pets_page, "compare.png": _compare_page, "lab.png": _lab,
          "train.png": _train_page}


async def screenshots(base_url: str, folder: Path) -> list[Path]:
    """The README's screenshots: a drawn 0 with every answer, a dog photo, the comparison page, a drawn 7 under
    attack, a finished live training run."""
    async with chromium() as browser:
        for shoot in SHOOTS.values():
            async with app_page(browser, base_url) as user:
                await shoot(user, folder)
    return [folder / name for name in SHOOTS]


def latency_report(base_url: str, strokes: int = STROKES_MEASURED, repeats: int = 50) -> dict[str, Any]:
    """docs/latency.json: the browser per stroke, and the server's share timed in this process."""
    return {"machine": machine(), **latency.measure(base_url, strokes, repeats)}


def load_report(base_url: str, users: int = USERS) -> dict[str, Any]:
    """docs/load_test.json: ``users`` users at once, their errors, lost results, latencies and server memory."""
    before = machine()  # measured first: how busy the CPUs were before the users came
    report = asyncio.run(run_load(base_url, users))
    return {
        **report.summary(),
        "machine": before,
        "problems": report.errors,
        "method": (
            f"{users} Chromium contexts at once (after one warm-up user, arriving 0.25 s apart), each: draw one "
            "digit in one stroke -> the 3 digit answers; then the cats page -> upload a bundled photo -> cat or "
            "dog. Latency is from mouse-up / file hand-over to the answers on screen. server_rss_mb is the peak "
            "resident memory of the streamlit process and its children during the run."
        ),
    }


def main(folder: Path = DOCS) -> None:
    configure_torch_threads()  # the server's setting, for the server-side figures timed in this process
    with running_app() as url:
        for path in asyncio.run(screenshots(url, folder / "screenshots")):
            print(f"wrote {path}")
        write_json(folder / "latency.json", report := latency_report(url))
        print(f"wrote {folder / 'latency.json'}: stroke to answers {report['stroke_to_answers']['median_ms']} ms")
        load = load_report(url)
    if load["errors"]:  # a failed run is a finding to fix, not a figure for the README
        raise SystemExit(f"load test: {load['errors']} problem(s), {folder / 'load_test.json'} left as it was; "
                         f"first: {load['problems'][:3]}")
    write_json(folder / "load_test.json", load)
    print(f"wrote {folder / 'load_test.json'}: 0 errors, p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms")
