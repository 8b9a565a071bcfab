"""``python -m benchmarks.collect --db URL``: fill a feedback database by drawing digits in the real app, in
headless Chromium, the way a visitor does: one mouse stroke on the canvas, then "Keep this drawing" and the
right label under the answers. It makes the held-out "visitors' drawings" that ``training.evaluate
--extra-data`` measures, on a machine where no visitor has drawn yet.

The drawings are not people's: each is one of a few hand-made one-stroke shapes per digit (some in styles
MNIST seldom has: a 1 with a flag and a base, a crossed 7, an open 4, a 9 with a straight stem), bent at
random (rotated, sheared, scaled, moved and wobbled) and drawn with a random pen width. What the database
keeps of them is exactly what it keeps of a visitor's: the strokes, the 28 x 28 digit the models read and
their answers.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

import numpy as np

from benchmarks.app_ui import STROKES
from benchmarks.browser import app_page, chromium
from benchmarks.server import running_app
from feedback.store import DB_URL_ENV

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 16) -> Stroke:
    """Points on an ellipse from angle ``start`` to ``end`` (radians, 0 = right, counter-clockwise on screen)."""
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in np.linspace(start, end, n)]


# One-stroke shapes per digit on the unit square (y down), a few styles each.
SHAPES: dict[int, list[Stroke]] = {
    0: [STROKES["0"], _arc(0.5, 0.5, 0.16, 0.33, math.pi / 2, math.pi / 2 + 2.1 * math.pi, 40)],
    1: [STROKES["1"], [(0.38, 0.3), (0.55, 0.15), (0.55, 0.85)],  # plain; with a flag; with a flag and a base
        [(0.38, 0.3), (0.55, 0.15), (0.55, 0.85), (0.36, 0.85), (0.74, 0.85)]],
    2: [STROKES["2"], [*_arc(0.5, 0.33, 0.18, 0.16, math.pi, -0.3), (0.3, 0.82), (0.72, 0.82)]],
    3: [STROKES["3"], [*_arc(0.5, 0.32, 0.17, 0.15, 2.6, -1.5), *_arc(0.5, 0.64, 0.2, 0.18, 1.5, -2.6)]],
    4: [STROKES["4"], [(0.35, 0.15), (0.3, 0.55), (0.72, 0.55), (0.62, 0.55), (0.62, 0.15), (0.62, 0.86)]],
    5: [[(0.68, 0.17), (0.36, 0.17), (0.33, 0.45), *_arc(0.48, 0.62, 0.2, 0.19, 2.0, -2.4)]],
    6: [[(0.62, 0.14), (0.42, 0.36), (0.33, 0.62), *_arc(0.5, 0.66, 0.17, 0.17, math.pi, -math.pi)]],
    7: [STROKES["7"], [(0.28, 0.2), (0.72, 0.2), (0.62, 0.45), (0.5, 0.85)],  # crossed, in one go:
        [(0.28, 0.2), (0.72, 0.2), (0.58, 0.5), (0.4, 0.5), (0.72, 0.5), (0.58, 0.5), (0.46, 0.85)]],
    8: [[*_arc(0.5, 0.32, 0.15, 0.15, -1.6, 2 * math.pi - 1.6, 20)[:-1], *_arc(0.5, 0.66, 0.19, 0.18, 1.6, -4.7, 24)]],
    9: [[*_arc(0.5, 0.32, 0.16, 0.15, 0.0, 2 * math.pi), (0.66, 0.85)],  # straight stem
        [*_arc(0.5, 0.32, 0.16, 0.15, 0.0, 2 * math.pi), (0.62, 0.7), (0.45, 0.86)]],  # curled
}


def bend(stroke: Stroke, rng: np.random.Generator) -> Stroke:
    """``stroke`` rotated (±15°), sheared, scaled (0.6-1.1), moved and wobbled, kept on the canvas."""
    pts = np.asarray(stroke, float) - 0.5
    angle, shear = np.radians(rng.uniform(-15, 15)), rng.uniform(-0.3, 0.3)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = pts @ np.array([[1, 0], [shear, 1]]) @ rot.T * rng.uniform(0.6, 1.1) * np.array([rng.uniform(0.8, 1.2), 1])
    pts += rng.uniform(-0.12, 0.12, 2) + 0.5 + rng.normal(0, 0.008, pts.shape)
    return [tuple(p) for p in np.clip(pts, 0.03, 0.97)]


async def collect(url: str, count: int, seed: int) -> dict[str, int]:
    """Draw ``count`` digits (labels in turn) and keep each with its true label; returns what was saved."""
    from playwright.async_api import Error as PlaywrightError

    rng = np.random.default_rng(seed)
    saved: dict[str, int] = {"kept": 0, "not_kept": 0}
    async with chromium() as browser, app_page(browser, url) as user:
        for i in range(count):
            digit = i % 10
            shapes = SHAPES[digit]
            await user.nudge_slider("stroke_width", int(rng.integers(-3, 4)))  # the pen width: 2 px a step from 20
            stroke = bend(shapes[int(rng.integers(len(shapes)))], rng)
            started = time.monotonic()
            try:
                await user.draw_points(stroke)
                await user.answers(3, ".")  # all three answers, whatever they are
                message = await user.keep_drawing(str(digit))
                saved["kept" if message.startswith("Saved") else "not_kept"] += 1
                await user.clear_canvas()
            except (TimeoutError, PlaywrightError) as e:  # a stuck page: counted, and a fresh page for the next one
                print(f"drawing {i + 1} ({digit}) not kept: {str(e).splitlines()[0]}", flush=True)
                saved["not_kept"] += 1
                await user.open()
            await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - started)))  # the rate limit: a save a second
            if (i + 1) % 50 == 0:
                print(f"{i + 1}/{count} drawn, {saved}", flush=True)
    return saved


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.collect", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="the feedback database URL to fill (e.g. sqlite:///drawings.db)")
    p.add_argument("--count", type=int, default=200, help="how many digits to draw (default 200, 20 of each)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shapes' random bends (default 0)")
    args = p.parse_args()
    with running_app(env={DB_URL_ENV: args.db}) as url:
        print(asyncio.run(collect(url, args.count, args.seed)))


if __name__ == "__main__":
    main()
