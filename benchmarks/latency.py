"""The speeds a user feels, each measured and set against its budget: the server's share of a digit
prediction and of a photo, the lab's (a bend, an attack, saliency maps, one epoch of live training), and the
browser's end of a stroke to the answers on screen.

A budget says what the app aims for on a 2-core CPU. Missing it is a finding for the report, never an
exception: on a loaded machine every figure grows, and tests check only that the figures are measured.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.app_ui import STROKES
from benchmarks.browser import AppPage, app_page, chromium

BUDGETS_MS = {
    "digits_server": 50.0,
    "photo_server": 150.0,
    "stroke_to_answers": 300.0,
    "bend_server": 100.0,
}
WHAT = {
    "digits_server": "server: preprocess a drawing + all 3 digit models (with activations)",
    "photo_server": "server: one photo through all 3 photo models (answers, where they looked, layers)",
    "stroke_to_answers": "browser: end of a stroke -> 3 answers on screen",
    "canvas_delay": "browser: end of a stroke -> the canvas component sends it (its own debounce)",
    "stroke_to_complete": "browser: end of a stroke -> script done, all images loaded",
    "bend_server": "server: bend a digit (every control moved) + all 3 digit models",
    "attack_server": "server: 10-step PGD on the Digit CNN + every model's answer + the transfer table",
    "saliency_server": "server: gradient x input saliency maps, all 3 digit models",
    "live_epoch": "server: one epoch of live training, default settings (256-128, batch 128)",
}
LAB = ("bend_server", "attack_server", "saliency_server", "live_epoch")  # server-side only, no browser


def figure(name: str, times_ms: list[float]) -> dict[str, Any]:
    """Median, p90 and max of ``times_ms``, with the budget for ``name`` (if it has one) and whether it is met."""
    median = round(statistics.median(times_ms), 2)
    out: dict[str, Any] = {
        "what": WHAT[name],
        "median_ms": median,
        "p90_ms": round(float(np.percentile(times_ms, 90)), 2),
        "max_ms": round(max(times_ms), 2),
        "runs": len(times_ms),
    }
    if name in BUDGETS_MS:
        out["budget_ms"] = BUDGETS_MS[name]
        out["within_budget"] = median <= BUDGETS_MS[name]
    return out


def timed_ms(fn: Callable[[], Any], runs: int, warmup: int = 0) -> list[float]:
    """Wall time in milliseconds of each of ``runs`` calls of ``fn()``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def not_measured(name: str, why: str) -> dict[str, Any]:
    return {"what": WHAT[name], "budget_ms": BUDGETS_MS.get(name), "note": why}


def digits_server(repeats: int) -> dict[str, Any]:
    """The time the draw page reports as its server time, for a real MNIST digit enlarged to the canvas."""
    from app.logic import digits

    models, digit = _digit_models()
    grey = np.kron(digit, np.ones((10, 10), np.uint8))  # 28 x 28 -> the 280 x 280 canvas, white on black
    canvas = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    times = [digits.predict_drawing(models, canvas).milliseconds for _ in range(repeats)]
    return figure("digits_server", times)


def photo_server(repeats: int) -> dict[str, Any]:
    """The time the photo page reports as its server time (every photo model), over the bundled photos."""
    from app.logic import checkpoints
    from app.logic.pets import analyse_photo
    from models.samples import pet_examples
    from uploads import load_photo

    models = {spec.key: checkpoints.load_model(spec).classifier for spec in checkpoints.PET_MODELS}
    photos = [load_photo(path.read_bytes()) for path, _ in pet_examples()]
    times = [analyse_photo(models, photos[i % len(photos)]).milliseconds for i in range(repeats)]
    return figure("photo_server", times)


def _digit_models() -> tuple[dict[str, Any], np.ndarray]:
    """The draw page's digit models, warmed up, and the first bundled MNIST digit (uint8 (28, 28))."""
    from app.logic import checkpoints
    from models.samples import load_digit_sample

    models = {spec.key: checkpoints.load_model(spec).classifier for spec in checkpoints.DIGIT_MODELS}
    for clf in models.values():
        checkpoints.warm_up(clf)
    return models, load_digit_sample()[0][0]


def lab_server(repeats: int) -> dict[str, dict[str, Any]]:
    """The lab's server-side times, on a real digit: what a slider, the attack switch and the saliency maps
    cost, and one epoch of the live trainer (the full MNIST when the data directory has it, else the bundled
    subset; a few runs, each an epoch)."""
    from app.logic.digits import predict_digit
    from app.logic.lab import attack_digit, consensus, saliency_maps
    from app.logic.live_run import one_epoch
    from app.logic.live_setup import training_data
    from models.perturb import Bend

    models, digit = _digit_models()
    settings = Bend(shift=(1, -2), angle=20, scale=0.9, thickness=1, noise=0.1, erase=(4, 4, 6))
    result = predict_digit(models, digit)

    training_data()  # loaded once per server, before any run: not part of an epoch
    epochs = max(1, repeats // 25)
    return {
        "bend_server": figure("bend_server", timed_ms(lambda: predict_digit(models, digit, settings), repeats)),
        "attack_server": figure("attack_server", timed_ms(
            lambda: attack_digit(models, digit, "digit_cnn", "pgd", 0.1, consensus(result)), max(3, repeats // 5))),
        "saliency_server": figure("saliency_server", timed_ms(lambda: saliency_maps(models, result), repeats)),
        "live_epoch": figure("live_epoch", timed_ms(one_epoch, epochs)),
    }


async def stroke(user: AppPage, digit: str) -> dict[str, Any]:
    """Draw ``digit``, wait until the page is complete, clear the canvas: what the page showed and when."""
    await user.draw(digit)
    answers = await user.digits(complete=True)
    read_as = dict(zip(await user.metric_labels(), answers.values))
    await user.clear_canvas()
    return {
        "drawn": digit,
        "read_as": read_as,
        "canvas_ms": round(answers.sent_ms, 1),
        "answers_ms": round(answers.shown_ms, 1),
        "complete_ms": round(answers.complete_ms, 1),
    }


async def browser_strokes(base_url: str, count: int) -> dict[str, Any]:
    """Draw ``count`` digits one after another on a freshly loaded draw page (the first stroke after a page
    load also pays for one-time work in the browser). Every figure is on the page's own clock, from mouse-up."""
    digits = [list(STROKES)[i % len(STROKES)] for i in range(count)]
    async with chromium() as browser, app_page(browser, base_url) as user:
        strokes = [await stroke(user, digit) for digit in digits]
    return {
        "strokes": strokes,
        "stroke_to_answers": figure("stroke_to_answers", [s["answers_ms"] for s in strokes]),
        "canvas_delay": figure("canvas_delay", [s["canvas_ms"] for s in strokes]),
        "stroke_to_complete": figure("stroke_to_complete", [s["complete_ms"] for s in strokes]),
    }


def measure(base_url: str, strokes: int, repeats: int) -> dict[str, Any]:
    """Every figure: the browser against the app at ``base_url`` (with each stroke), the server's share in this
    process (it runs the app's own functions, with ``repeats`` runs each)."""
    return {
        **asyncio.run(browser_strokes(base_url, strokes)),
        "digits_server": digits_server(repeats),
        "photo_server": photo_server(repeats),
    }
