"""Drawings made the way visitors make them: glyphs re-drawn as hard-edged canvas strokes, and doodles.

The app's canvas is 280 x 280, white ink on black, drawn with a round pen about 20 px wide; its strokes
have no grey levels. MNIST's digits were scanned from paper. To teach and test the models on what the app
really sees, pictures are drawn on such a canvas here and go through ``preprocess_drawing`` like a drawing.

- ``draw_on_canvas``: any grey glyph (an MNIST digit, a letter) enlarged onto the canvas as pen strokes;
- ``redraw``: a batch of glyphs, each drawn once at a seeded random size, pen width and place;
- ``doodle``: random scribbles, zigzags, loops, hatching and blobs (for training "not a digit");
- ``shape``: scripted drawings of things that are not digits (stars, hearts, houses...), kept for
  measuring only: no model and no threshold ever sees these kinds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from models.preprocessing import preprocess_drawing

CANVAS = 280
SIZES = (120, 160, 200, 260)  # height of an enlarged 28 x 28 field on the canvas (4.3x to 9.3x)
STROKES = (0, 5, 11)  # extra pen width in canvas pixels (0: the glyph's own stroke, ~15 px at 7x)
Point = tuple[float, float]


def draw_on_canvas(
    glyph: np.ndarray, height: int = 200, centre: tuple[int, int] = (140, 140), stroke: int = 0
) -> np.ndarray:
    """uint8 (h, w) grey glyph, white on black -> uint8 RGBA (280, 280, 4) canvas, white ink on opaque black.

    The glyph's field is enlarged to ``height`` px (10x for a 28 x 28 digit at 280), pasted with its centre at
    ``centre`` (row, col) and clipped at the canvas edges; ``stroke`` > 0 thickens the strokes by a max
    filter of that many pixels (a wider pen); the ink is then made hard-edged like canvas strokes.
    """
    h, w = glyph.shape
    width = max(1, round(height * w / h))
    big = Image.fromarray(glyph).resize((width, height), Image.BILINEAR)
    if stroke > 0:
        big = big.filter(ImageFilter.MaxFilter(2 * (stroke // 2) + 1))
    ink = (np.asarray(big) > 96).astype(np.uint8) * 255  # a canvas pen has no grey levels
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    top, left = centre[0] - height // 2, centre[1] - width // 2
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, CANVAS), min(left + width, CANVAS)
    canvas[r0:r1, c0:c1] = ink[r0 - top : r1 - top, c0 - left : c1 - left]
    return to_rgba(canvas)


def to_rgba(ink: np.ndarray) -> np.ndarray:
    """uint8 (H, W) ink -> uint8 (H, W, 4): white ink on opaque black, as the canvas sends it."""
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., :3] = ink[..., None]
    rgba[..., 3] = 255
    return rgba


def stroke_canvas(points: Sequence[Point] | Sequence[Sequence[Point]], width: int = 20) -> np.ndarray:
    """A canvas with polylines drawn through (x, y) points with a round pen: what mouse strokes produce.

    ``points`` is one stroke (a list of points) or several (a list of such lists).
    """
    strokes = [points] if points and isinstance(points[0][0], (int, float, np.number)) else points
    img = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(img)
    for line in strokes:
        line = [tuple(map(float, p)) for p in line]
        if len(line) > 1:
            draw.line(line, fill=255, width=width, joint="curve")
        for x, y in line if len(line) < 3 else (line[0], line[-1]):  # round caps (and dots)
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return to_rgba(np.asarray(img))


def redraw(
    glyphs: np.ndarray, seed: int, sizes: Sequence[int] = SIZES, strokes: Sequence[int] = STROKES
) -> np.ndarray:
    """Each (h, w) glyph drawn once at a seeded random size (from ``sizes``), pen width (``strokes``) and
    place, never cut by the canvas edge, then preprocessed like a drawing: uint8 (N, 28, 28). Glyphs with
    no ink come back black."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(glyphs), 28, 28), np.uint8)
    for i, glyph in enumerate(glyphs):
        size, stroke = int(rng.choice(sizes)), int(rng.choice(strokes))
        margin = int(size * 20 / 28) // 2 + stroke + 2  # MNIST ink fills the central ~20/28 of the field
        row, col = (int(v) for v in rng.integers(margin, CANVAS - margin, size=2))
        digit = preprocess_drawing(draw_on_canvas(glyph, size, (row, col), stroke))
        if digit is not None:
            out[i] = digit
    return out


# --- doodles: random drawings that are no digit, for training ------------------------------------------
def _jitter(points: list[Point], rng: np.random.Generator, amount: float) -> list[Point]:
    """A hand's wobble: every point moved by up to ``amount`` pixels."""
    return [(x + rng.uniform(-amount, amount), y + rng.uniform(-amount, amount)) for x, y in points]


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0, end: float = 2 * math.pi,
             n: int = 24) -> list[Point]:
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in np.linspace(start, end, n)]


def _scribble(rng: np.random.Generator) -> list[list[Point]]:
    """A random walk with momentum: a tangle of curves."""
    x, y, heading = rng.uniform(80, 200, 2).tolist() + [rng.uniform(0, 2 * math.pi)]
    points = [(x, y)]
    for _ in range(int(rng.integers(12, 40))):
        heading += rng.normal(0, 0.9)
        step = rng.uniform(15, 35)
        x = float(np.clip(x + step * math.cos(heading), 20, 260))
        y = float(np.clip(y + step * math.sin(heading), 20, 260))
        points.append((x, y))
    return [points]


def _zigzag(rng: np.random.Generator) -> list[list[Point]]:
    """Four to eight straight segments with sharp turns."""
    return [[tuple(p) for p in rng.uniform(30, 250, (int(rng.integers(5, 9)), 2))]]


def _loops(rng: np.random.Generator) -> list[list[Point]]:
    """Two to four overlapping ellipses or arcs."""
    strokes = []
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(80, 200, 2)
        rx, ry = rng.uniform(20, 80, 2)
        start = rng.uniform(0, 2 * math.pi)
        strokes.append(_ellipse(cx, cy, rx, ry, start, start + rng.uniform(math.pi, 2 * math.pi)))
    return strokes


def _hatching(rng: np.random.Generator) -> list[list[Point]]:
    """Three to eight roughly parallel lines, sometimes crossed by a second set."""
    strokes = []
    for _ in range(1 + int(rng.random() < 0.5)):
        angle, n = rng.uniform(0, math.pi), int(rng.integers(3, 9))
        dx, dy = math.cos(angle), math.sin(angle)
        for k in np.linspace(-70, 70, n):
            cx, cy = 140 - dy * k, 140 + dx * k
            half = rng.uniform(50, 100)
            strokes.append([(cx - dx * half, cy - dy * half), (cx + dx * half, cy + dy * half)])
    return strokes


def _blob(rng: np.random.Generator) -> list[list[Point]]:
    """A filled-in area: a closed random polygon drawn over with many strokes."""
    cx, cy = rng.uniform(100, 180, 2)
    angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(5, 9))))
    radius = rng.uniform(40, 100, len(angles))
    outline = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radius)]
    return [[*outline, outline[0]]] + [[(cx, cy), p] for p in outline]


DOODLES: dict[str, Callable[[np.random.Generator], list[list[Point]]]] = {
    "scribble": _scribble, "zigzag": _zigzag, "loops": _loops, "hatching": _hatching, "blob": _blob,
}


def doodle(rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """One random doodle (of ``kind``, or a random kind) as a canvas, pen 10-30 px: uint8 (280, 280, 4)."""
    kind = kind or str(rng.choice(list(DOODLES)))
    strokes = [_jitter(s, rng, 3) for s in DOODLES[kind](rng)]
    return stroke_canvas(strokes, int(rng.integers(10, 31)))


# --- shapes: scripted drawings of things, kept for measuring only --------------------------------------
def _star() -> list[list[Point]]:
    return [[(math.sin(4 * math.pi * k / 5), -math.cos(4 * math.pi * k / 5)) for k in range(6)]]


def _heart() -> list[list[Point]]:
    t = np.linspace(0, 2 * math.pi, 40)
    x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [list(zip(x / 17, y / 17))]


def _house() -> list[list[Point]]:
    return [[(-0.7, 0), (-0.7, 1), (0.7, 1), (0.7, 0), (-0.7, 0), (0, -0.8), (0.7, 0)],
            [(-0.15, 1), (-0.15, 0.45), (0.2, 0.45), (0.2, 1)]]


def _smiley() -> list[list[Point]]:
    return [_ellipse(0, 0, 1, 1, n=36), _ellipse(-0.35, -0.3, 0.08, 0.08, n=8), _ellipse(0.35, -0.3, 0.08, 0.08, n=8),
            _ellipse(0, 0.1, 0.55, 0.45, 0.2 * math.pi, 0.8 * math.pi, n=16)]


def _arrow() -> list[list[Point]]:
    return [[(-1, 0), (1, 0)], [(0.5, -0.5), (1, 0), (0.5, 0.5)]]


def _spiral() -> list[list[Point]]:
    t = np.linspace(0, 5 * math.pi, 60)
    return [list(zip(t * np.cos(t) / 16, t * np.sin(t) / 16))]


def _triangle() -> list[list[Point]]:
    return [[(0, -1), (0.9, 0.7), (-0.9, 0.7), (0, -1)]]


def _square() -> list[list[Point]]:
    return [[(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8), (-0.8, -0.8)]]


def _sun() -> list[list[Point]]:
    rays = [[(0.5 * math.cos(a), 0.5 * math.sin(a)), (math.cos(a), math.sin(a))]
            for a in np.linspace(0, 2 * math.pi, 9)[:-1]]
    return [_ellipse(0, 0, 0.35, 0.35, n=24), *rays]


def _hash() -> list[list[Point]]:
    return [[(-0.3, -1), (-0.4, 1)], [(0.4, -1), (0.3, 1)], [(-1, -0.35), (1, -0.35)], [(-1, 0.35), (1, 0.35)]]


SHAPES: dict[str, Callable[[], list[list[Point]]]] = {
    "star": _star, "heart": _heart, "house": _house, "smiley": _smiley, "arrow": _arrow, "spiral": _spiral,
    "triangle": _triangle, "square": _square, "sun": _sun, "hash": _hash,
}


def shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One scripted drawing of ``kind`` (see SHAPES), at a random size, place, tilt and pen, hand-wobbled."""
    size, angle = rng.uniform(60, 120), rng.uniform(-0.35, 0.35)
    cx, cy = rng.uniform(100, 180, 2)
    cos, sin = math.cos(angle), math.sin(angle)
    strokes = [[(cx + size * (x * cos - y * sin), cy + size * (x * sin + y * cos)) for x, y in s]
               for s in SHAPES[kind]()]
    return stroke_canvas([_jitter(s, rng, 3) for s in strokes], int(rng.integers(10, 31)))
