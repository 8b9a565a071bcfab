"""The app's page as a browser sees it: every selector the driver (``benchmarks.browser``) needs, in one
place (Streamlit's ``data-testid`` attributes, the ``st-key-<key>`` classes of the app's widget keys and the
pages' URL paths; a visible text only for a radio option, which has nothing else to tell it apart), the
JavaScript the page is asked while waiting, and the digits drawn on its canvas."""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image, ImageDraw

# -- selectors -----------------------------------------------------------------------------------------------
APP = '[data-testid="stApp"]'
CANVAS = '[data-testid="stBidiComponentIsolated"] canvas.upper-canvas'  # CSS locators pierce open shadow roots
CLEAR_BUTTON = ".st-key-clear_canvas button"
DIGIT_SOURCE = ".st-key-digit_source"
SAMPLE_NUMBER = ".st-key-sample_index input"
PET_SOURCE = ".st-key-pet_source"
PET_UPLOAD = '.st-key-pet_upload input[type="file"]'
METRIC = '[data-testid="stMetric"]'
METRIC_LABEL = '[data-testid="stMetricLabel"]'
METRIC_VALUE = '[data-testid="stMetricValue"]'
IMAGE = '[data-testid="stImage"] img'
DATAFRAME = '[data-testid="stDataFrame"]'
EXPANDER = '[data-testid="stExpander"] summary'
NAV_LINK = '[data-testid="stSidebarNav"] a[href$="/{path}"]'
FEEDBACK_KEEP = ".st-key-feedback_keep label"
FEEDBACK_YES = ".st-key-feedback_yes button"
FEEDBACK_LABEL = ".st-key-feedback_label"
FEEDBACK_SAVE = ".st-key-feedback_save button"
OPTION = '[role="option"]'  # an item of an open selectbox's list
FEEDBACK_OUTCOME = ", ".join(f'[data-testid="stAlertContent{kind}"]' for kind in ("Success", "Warning", "Error"))
MARKDOWN = '[data-testid="stMarkdownContainer"]'
TROUBLE = {"Streamlit exception": '[data-testid="stException"]', "error box": '[data-testid="stAlertContentError"]'}

# -- what the page is asked while waiting (JavaScript) ---------------------------------------------------------
# Installed before any page script: when the mouse was last lifted and when the page sent each websocket
# message, on the page's own clock, so browser latencies do not include the time Playwright takes to report them.
PAGE_HOOKS = """
window.__sends = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.__sends.push(performance.now()); return send.call(this, data); };
addEventListener('pointerup', () => { window.__action = performance.now(); }, true);
"""
# No script run is going on, the page is connected, and its title is there and is not ``old``. Every wait is
# for content like this: under load the browser may draw a whole script run in one go, so the run state
# can go from idle to idle without ever showing "running".
PAGE_READY = f"""(old) => !!document.querySelector('{APP}[data-test-script-state="notRunning"]'
  + '[data-test-connection-state="CONNECTED"]') && !!document.querySelector('h1')
  && document.querySelector('h1').innerText !== old"""
IMAGES_LOADED = f"[...document.querySelectorAll('{IMAGE}')].every(i => i.complete && i.naturalWidth > 0)"
# {trouble} as soon as an exception or error box shows (fail fast rather than wait out the timeout), else the
# metric values once ``pattern`` matches all ``count`` of them, with the page's time when they were first seen.
ANSWERS = """([count, pattern, trouble]) => {
  const bad = document.querySelector(trouble);
  if (bad) return {trouble: bad.textContent.slice(0, 300)};
  const values = [...document.querySelectorAll('%s')].map(e => e.textContent.trim());
  if (values.length !== count || !values.every(v => new RegExp(pattern, 'i').test(v))) return null;
  window.__answersAt ??= performance.now();
  return {values, at: window.__answersAt};
}""" % METRIC_VALUE  # noqa: UP031 - the JS braces make an f-string unreadable
ANSWERS_COMPLETE = """(args) => {
  const found = (%s)(args);
  if (!found || found.trouble) return found;
  const idle = !!document.querySelector('%s[data-test-script-state="notRunning"]');
  return idle && %s ? {...found, complete: performance.now()} : null;
}""" % (ANSWERS, APP, IMAGES_LOADED)  # noqa: UP031

# -- digits drawn in one stroke (one mouse-down..mouse-up, so one rerun), as points on the unit square --------
STROKES: dict[str, list[tuple[float, float]]] = {
    "0": [(0.5 + 0.21 * math.sin(t / 20 * math.pi), 0.5 - 0.32 * math.cos(t / 20 * math.pi)) for t in range(41)],
    "1": [(0.54 - 0.06 * (v / 20), 0.14 + 0.72 * v / 20) for v in range(21)],
    "2": [(0.3, 0.3), (0.5, 0.15), (0.7, 0.3), (0.3, 0.8), (0.75, 0.8)],
    "3": [(0.3, 0.2), (0.6, 0.15), (0.7, 0.3), (0.45, 0.48), (0.7, 0.62), (0.62, 0.82), (0.3, 0.82)],
    "4": [(0.6, 0.15), (0.25, 0.6), (0.75, 0.6), (0.6, 0.45), (0.6, 0.85)],
    "7": [(0.3, 0.2), (0.7, 0.2), (0.45, 0.82)],
}

FABRIC = "7.4.0"  # the canvas component's fabric.js, named in its scene JSON
SAMPLE_PX = 5.0  # a drag reports a point about every 5 px (benchmarks.browser moves the mouse in 5 px steps)
# Besides its geometry, a freehand path as fabric.js writes it (the browser's has ~30 more fields of defaults)
PATH_FIELDS = {"type": "Path", "version": FABRIC, "originX": "center", "originY": "center", "stroke": "#FFFFFF"}


def digit_png(digit: str, side: int = 280, width: int = 20) -> bytes:
    """The canvas's PNG after drawing ``STROKES[digit]``: a white round-capped line ``width`` px wide on black,
    side x side 8-bit RGBA, anti-aliased like a browser canvas (drawn 4x larger, then shrunk)."""
    k, white, r = 4, (255, 255, 255, 255), width * 2  # r: the pen's radius, 4x larger
    img = Image.new("RGBA", (side * k, side * k), (0, 0, 0, 255))
    draw = ImageDraw.Draw(img)
    corners = [(u * side * k, v * side * k) for u, v in STROKES[digit]]  # Pillow leaves seams between tiny segments
    draw.line(corners, fill=white, width=width * k, joint="curve")
    for x, y in (corners[0], corners[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=white)
    out = io.BytesIO()
    # Fast, light compression, as Chromium encodes a canvas: near its size (~6 KB for a digit, Pillow's default ~4)
    img.resize((side, side), Image.Resampling.BOX).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def digit_raw(digit: str, side: int = 280, width: int = 20) -> dict[str, Any]:
    """fabric.js's scene after the same stroke, a freehand path as its PencilBrush writes one: ``M`` at the
    first point, ``Q`` through each point to the midpoint of the next, ``L`` at the last."""
    corners = [(u * side, v * side) for u, v in STROKES[digit]]
    pts = [(round(corners[0][0], 2), round(corners[0][1], 2))]
    for (x0, y0), (x1, y1) in zip(corners, corners[1:]):  # a point every SAMPLE_PX, as a mouse drag reports it
        n = max(1, int(math.dist((x0, y0), (x1, y1)) / SAMPLE_PX))
        pts += [(round(x0 + (x1 - x0) * i / n, 2), round(y0 + (y1 - y0) * i / n, 2)) for i in range(1, n + 1)]
    mids = [["Q", *p, round((p[0] + q[0]) / 2, 2), round((p[1] + q[1]) / 2, 2)] for p, q in zip(pts, pts[1:])]
    (x0, x1), (y0, y1) = [(min(v), max(v)) for v in zip(*pts)]
    box = {"left": (x0 + x1) / 2, "top": (y0 + y1) / 2, "width": x1 - x0, "height": y1 - y0}
    path = [["M", *pts[0]], *mids, ["L", *pts[-1]]]
    return {"version": FABRIC, "objects": [{**PATH_FIELDS, **box, "strokeWidth": width, "path": path}],
            "background": "#000000"}  # fmt: skip
