"""What a classroom costs one server: CPU time and memory of the server process and its decoding workers, read
from /proc around each kind of request (not a stopwatch in the client), and how many simulated students it serves.

Visitors are simulated with ``benchmarks.ws_client``, Streamlit's own websocket protocol as the browser speaks it:
about 2 ms of client CPU per action, so 60 students fit beside the server on 2 cores. Measured, in this order:
  - ``first_visitor_cpu_s``: the first visitor after the server started (the page and the scripts it names,
    fetched over HTTP as a browser does on a first visit, then the session's first run);
  - ``new_visitor_cpu_ms``: each later new visitor (the same, mean of several);
  - ``stroke_cpu_ms``: one stroke on "Draw a digit", steady state (mean over many, after a few to warm up);
  - ``upload_cpu_ms``: one photo uploaded on "Cat or dog?";
  - ``lab_cpu_ms``: one lab action: ``bend`` (a slider), ``saliency`` (the other saliency method, with "Inside
    the networks" open), ``attack`` (PGD at the largest epsilon);
  - ``session_mb``: resident memory per extra session (sessions that each drew a digit, kept open);
  - ``load``: students drawing one stroke every ``PERIOD_S`` each (10 turns): strokes served per second, answers
    wrong or lost, and stroke-to-answers latency (p50, p95) at each class size.
``python -m benchmarks.capacity --root DIR`` measures the checkout in DIR: ``BEFORE`` holds the figures of the
commit before the stroke was made cheap, measured so (``--browser-strokes 10 --out benchmarks/capacity_before.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import statistics
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.app_ui import digit_png, digit_raw
from benchmarks.server import ROOT, running_app, server_cpu_seconds, server_rss_bytes
from benchmarks.ws_client import Session

BEFORE = Path(__file__).resolve().parent / "capacity_before.json"  # this run at the commit before issue 27
PERIOD_S = 3.0  # a student draws one stroke every 3 s, the classroom
CLASS_SIZES = (10, 30, 60)
DIGITS = "012347"  # the bundled strokes every digit model reads right
TWO_CORES = 2  # capacity is given for the small server of the issue: 2 cores


def _fetch(url: str) -> int:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return len(r.read())


async def visit(url: str, page: str = "") -> Session:
    """A browser's first visit: the page, the scripts and styles it names (compressed, as a browser asks), then the
    websocket session and its first run. The caller closes the session."""
    html = urllib.request.urlopen(f"{url}/{page}", timeout=60).read().decode()
    assets = sorted(set(re.findall(r'(?:src|href)="\./(static/[^"]+)"', html)))
    await asyncio.gather(*(asyncio.to_thread(_fetch, f"{url}/{a}") for a in assets))
    return await Session(url, page).__aenter__()


async def cpu_of(port: int, action: Callable[[], Awaitable[Any]], settle_s: float = 0.3) -> float:
    """Server CPU seconds spent on ``action`` (and on what it left running for ``settle_s`` after it)."""
    before = server_cpu_seconds(port)
    await action()
    await asyncio.sleep(settle_s)  # images fetched after the run, workers' last bookkeeping
    return server_cpu_seconds(port) - before


def _digit(i: int) -> str:
    return DIGITS[i % len(DIGITS)]


async def per_action(url: str, port: int, quick: bool) -> dict[str, Any]:
    """Server CPU per visitor, stroke, upload and lab action, and memory per session."""
    from benchmarks.load import photos_read_right

    out: dict[str, Any] = {}
    first: list[Session] = []
    out["first_visitor_cpu_s"] = round(await cpu_of(port, lambda: _append(first, visit(url))), 3)
    later: list[Session] = []
    visitors = 3 if quick else 8
    costs = [await cpu_of(port, lambda: _append(later, visit(url))) for _ in range(visitors)]
    out["new_visitor_cpu_ms"] = round(statistics.mean(costs) * 1000, 1)
    s = first[0]
    for i in range(5):  # warm-up strokes
        await s.draw(digit_png(_digit(i)), digit_raw(_digit(i)))
    strokes = 10 if quick else 40
    before = server_cpu_seconds(port)
    for i in range(strokes):
        await s.draw(digit_png(_digit(i)), digit_raw(_digit(i)))
    await asyncio.sleep(0.3)
    out["stroke_cpu_ms"] = round((server_cpu_seconds(port) - before) / strokes * 1000, 1)
    out["lab_cpu_ms"] = await lab_actions(s, port, 2 if quick else 5)
    photos = list(photos_read_right())
    if photos:
        async with Session(url, "pets") as pets:
            await pets.set_widget("pet_source", "Upload a photo")
            costs = []
            for i in range(3 if quick else 10):
                photo = photos[i % len(photos)]
                costs.append(await cpu_of(port, lambda p=photo: pets.upload("pet_upload", p.name, p.read_bytes())))
            out["upload_cpu_ms"] = round(statistics.mean(costs) * 1000, 1)
    for session in first + later:
        await session.__aexit__()
    out["session_mb"] = await memory_per_session(url, port, 10 if quick else 30)
    return out


async def _append(sessions: list[Session], opening: Awaitable[Session]) -> None:
    sessions.append(await opening)


async def lab_actions(s: Session, port: int, repeats: int) -> dict[str, float]:
    """Server CPU (ms, mean of ``repeats``) of each lab action, on the digit ``s`` shows."""
    async def twice(key: str, values: tuple[Any, Any]) -> float:
        costs = [await cpu_of(port, lambda v=values[i % 2]: s.set_widget(key, v)) for i in range(repeats)]
        return round(statistics.mean(costs) * 1000, 1)

    async def open_section(key: str) -> None:
        """Open a lab section that is computed only once open (since issue 27); before, each always was."""
        try:
            await s.set_widget(key, True)
        except KeyError:
            pass

    await open_section("bend_open")
    bend = await twice("bend_angle", (20, 0))
    await open_section("inside_open")
    saliency = await twice("saliency_method", ("integrated_gradients", "gradient_x_input"))
    await open_section("attack_open")
    await s.set_widget("attack_on", True)
    await s.set_widget("attack_method", "pgd")
    attack = await twice("attack_eps", (0.3, 0.29))
    return {"bend": bend, "saliency": saliency, "attack": attack}


async def memory_per_session(url: str, port: int, sessions: int) -> float:
    """Resident memory (MB) the server holds per extra open session of a visitor who drew a digit, then went to
    "Cat or dog?" and uploaded a photo (as in the 20-user browser test)."""
    from benchmarks.load import photos_read_right

    photos = list(photos_read_right())

    async def one(i: int) -> Session:
        s = await Session(url).__aenter__()
        await s.draw(digit_png(_digit(i)), digit_raw(_digit(i)))
        await s.go_to("pets")
        await s.set_widget("pet_source", "Upload a photo")
        photo = photos[i % len(photos)]
        await s.upload("pet_upload", photo.name, photo.read_bytes())
        return s

    for s in [await one(i) for i in range(2)]:  # warm-up: allocator pools and caches that are not per session
        await s.__aexit__()
    await asyncio.sleep(1)
    before = server_rss_bytes(port)
    opened = [await one(i) for i in range(sessions)]
    await asyncio.sleep(1)
    grown = server_rss_bytes(port) - before
    for s in opened:
        await s.__aexit__()
    return round(grown / sessions / 2**20, 1)


async def classroom(url: str, port: int, students: int, turns: int, seed: int = 0) -> dict[str, Any]:
    """``students`` sessions, each drawing ``turns`` strokes PERIOD_S apart (from a random phase within the first
    PERIOD_S). A student whose answer has not come by its next turn draws as soon as it comes."""
    rng = random.Random(seed)
    latencies: list[float] = []
    wrong = errors = 0
    span = [math.inf, 0.0]  # first stroke sent, last answer received (time.monotonic)

    async def student(i: int) -> None:
        nonlocal wrong, errors
        await asyncio.sleep(rng.uniform(0, PERIOD_S))
        try:
            async with Session(url, timeout_s=60) as s:
                start = time.monotonic()
                for n in range(turns):
                    await asyncio.sleep(max(0.0, start + n * PERIOD_S - time.monotonic()))
                    digit, span[0] = _digit(i + n), min(span[0], time.monotonic())
                    answers = await s.draw(digit_png(digit), digit_raw(digit))
                    latencies.append(s.runs[-1].seconds)
                    span[1] = time.monotonic()
                    wrong += set(answers.values()) != {digit}
        except (TimeoutError, OSError, ConnectionError):
            errors += 1

    before, t0 = server_cpu_seconds(port), time.monotonic()
    await asyncio.gather(*(student(i) for i in range(students)))
    wall = time.monotonic() - t0
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [float("nan")] * 19
    return {"students": students, "strokes": len(latencies), "wrong_or_lost": wrong, "sessions_failed": errors,
            "strokes_per_s": round(len(latencies) / max(span[1] - span[0], 1e-9), 2),
            "asked_per_s": round(students / PERIOD_S, 2),
            "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
            "p95_ms": round(q[18] * 1000) if latencies else None,
            "server_cores_busy": round((server_cpu_seconds(port) - before) / wall, 2)}  # fmt: skip


def capacity_of(figures: dict[str, Any]) -> dict[str, float]:
    """What a 2-core server could serve at these costs, counting strokes only."""
    per_s = TWO_CORES / (figures["stroke_cpu_ms"] / 1000)
    return {"strokes_per_s": round(per_s, 1), "students_one_stroke_every_3s": int(per_s * PERIOD_S)}


def measure(quick: bool = False, root: Path = ROOT, browser_strokes: int = 0) -> dict[str, Any]:
    """Every figure above for the checkout in ``root``, on a server of its own; with ``browser_strokes``, also
    pen-up to answers on screen in headless Chromium (median ms of that many strokes, benchmarks.latency)."""
    from models.runtime import available_cores, cpu_name

    async def run(url: str) -> dict[str, Any]:
        port = int(url.rsplit(":", 1)[1])
        figures = await per_action(url, port, quick)
        sizes = CLASS_SIZES[:1] if quick else CLASS_SIZES
        figures["load"] = [await classroom(url, port, n, 4 if quick else 10) for n in sizes]
        if browser_strokes:
            from benchmarks.latency import browser_strokes as strokes_in_chromium

            seen = await strokes_in_chromium(url, browser_strokes)
            figures["stroke_to_answers_ms"] = seen["stroke_to_answers"]["median_ms"]
        return figures

    with running_app(root=root) as url:
        figures = asyncio.run(run(url))
    return {"cpu": cpu_name(), "cores": available_cores(), **figures, "capacity": capacity_of(figures)}


def commit_of(root: Path) -> str:
    """The commit checked out in ``root`` (with "+changes" when its tree differs), or "unknown"."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    p.add_argument("--quick", action="store_true", help="fewer repeats, one class size (about a minute)")
    p.add_argument("--out", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--browser-strokes", type=int, default=0,
                   help="also time this many strokes from pen-up to answers in headless Chromium (default none)")
    args = p.parse_args(argv)
    figures = measure(args.quick, args.root.resolve(), args.browser_strokes)
    figures["commit"] = commit_of(args.root)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
