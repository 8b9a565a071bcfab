"""Many users at once against one running app: each draws a digit and uploads a photo; every error, lost
result and wrong answer is counted, and the latencies and the server's memory are measured.

One headless Chromium holds one browser context (own cookies, own Streamlit session) per user, all driven
concurrently from one asyncio loop. Each user opens the draw page, draws one digit in one stroke and waits
for the three answers; then follows the sidebar to "Cat or dog?" (same session), uploads one of the bundled
photos and waits for cat or dog. A user must see the right answers: the digit it drew from every model,
and for the photo the class it shows (only photos the model classifies right are used), so an answer lost
or crossed with another user's is caught. A stroke the starved page never sent to the server is drawn again
once (``strokes_redrawn``; see browser.STROKE_SENT_S); an answer to a stroke that was sent is waited for.
Latency is from the action (mouse lifted, file handed over) to the answers in the page: websocket round trip,
script rerun, models and rendering.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from benchmarks.app_ui import STROKES
from benchmarks.browser import AppPage, app_page, chromium
from benchmarks.server import PeakRss, server_rss_bytes

USERS = 20
STAGGER_S = 0.25  # users arrive a quarter second apart, as people do, rather than in one instant
ACTIONS = ("draw", "upload")


def photos_read_right() -> dict[Path, str]:
    """The bundled photos every photo model reads right (in this process), with their class."""
    from app.logic import checkpoints
    from app.logic.pets import answer_of
    from models.samples import pet_examples
    from uploads import load_photo

    models = [checkpoints.load_model(spec).classifier for spec in checkpoints.PET_MODELS]
    if any(clf is None for clf in models):
        return {}
    right = {}
    for path, label in pet_examples():
        photo = load_photo(path.read_bytes())
        if all(answer_of(clf, photo, photo).answer == label for clf in models):
            right[path] = label
    return right


@dataclass
class UserOutcome:
    """What one user saw: latency per action (ms), the answers, page reloads, strokes drawn again, and every
    problem."""

    index: int
    latencies_ms: dict[str, float] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    reloads: int = 0
    redraws: int = 0
    errors: list[str] = field(default_factory=list)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and max in ms (interpolated: nearest-rank p95 of 20 values would be the max)."""
    if len(values) < 2:
        return {k: round(values[0], 1) if values else None for k in ("p50_ms", "p95_ms", "max_ms")}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1), "max_ms": round(max(values), 1)}


@dataclass
class LoadReport:
    """A whole run; ``summary()`` gives the figures."""

    users: list[UserOutcome]
    wall_s: float
    server_rss_mb: float
    server_rss_idle_mb: float

    @property
    def errors(self) -> list[str]:
        return [f"user {u.index}: {e}" for u in self.users for e in u.errors]

    @property
    def lost(self) -> int:
        """Actions that never showed an answer."""
        return sum(a not in u.latencies_ms for u in self.users for a in ACTIONS)

    def summary(self) -> dict[str, Any]:
        every = [ms for u in self.users for ms in u.latencies_ms.values()]
        return {
            "users": len(self.users),
            "errors": len(self.errors),
            "lost_results": self.lost,
            "page_reloads": sum(u.reloads for u in self.users),
            "strokes_redrawn": sum(u.redraws for u in self.users),
            **percentiles(every),
            **{a: {"n": len(self.latencies(a)), **percentiles(self.latencies(a))} for a in ACTIONS},
            "server_rss_mb": self.server_rss_mb,
            "server_rss_idle_mb": self.server_rss_idle_mb,
            "wall_s": round(self.wall_s, 1),
        }

    def latencies(self, action: str) -> list[float]:
        return [u.latencies_ms[action] for u in self.users if action in u.latencies_ms]


async def _draw(user: AppPage, outcome: UserOutcome) -> None:
    digit = list(STROKES)[outcome.index % len(STROKES)]
    answers = await user.draw_and_read(digit, polling=100)  # 20 pages polling every frame would add to the load
    outcome.latencies_ms["draw"] = answers.shown_ms
    outcome.answers["draw"] = {"drawn": digit, "read_as": answers.values}
    if answers.values != [digit] * len(answers.values):
        outcome.errors.append(f"draw: drew {digit}, the models read {answers.values}")


async def _upload(user: AppPage, outcome: UserOutcome, photos: dict[Path, str]) -> None:
    photo = list(photos)[outcome.index % len(photos)]
    await user.go_to("pets")
    answers = await user.upload_photo(photo, polling=100)
    outcome.latencies_ms["upload"] = answers.shown_ms
    outcome.answers["upload"] = {"photo": photo.name, "labels": answers.values}
    if answers.values != [photos[photo]] * len(answers.values):
        outcome.errors.append(f"upload: {photo.name} is a {photos[photo]}, the models say {answers.values}")


async def run_user(browser: Any, base_url: str, index: int, photos: dict[Path, str]) -> UserOutcome:
    """One user, start to end; every failure becomes an error in the outcome, never an exception."""
    outcome = UserOutcome(index)
    await asyncio.sleep(max(index, 0) * STAGGER_S)
    step = "open the draw page"
    try:
        async with app_page(browser, base_url, viewport={"width": 1280, "height": 900}) as user:
            step = "draw"
            await _draw(user, outcome)
            await user.wait_ready()
            outcome.errors += [f"draw: {problem}" for problem in await user.trouble()]
            step = "upload"
            await _upload(user, outcome, photos)
            await user.wait_ready()
            outcome.errors += [f"upload: {problem}" for problem in await user.trouble()]
            outcome.reloads, outcome.redraws = user.reloads, user.redraws
    except Exception as e:  # noqa: BLE001 - every failure is a finding for the report
        outcome.errors.append(f"{step}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    return outcome


async def run_load(base_url: str, users: int = USERS, warm_up: bool = True) -> LoadReport:
    """``users`` users at once against ``base_url`` while the server's memory is sampled.

    With ``warm_up``, one user goes through both pages first (not counted), so the figures show steady
    serving rather than the server's first page loads.
    """
    photos = photos_read_right()
    if not photos:
        raise RuntimeError("no bundled photo the pet checkpoint classifies right: nothing to upload")
    port = urlparse(base_url).port or 80
    async with chromium() as browser:
        if warm_up:
            first = await run_user(browser, base_url, -1, photos)
            if first.errors:
                raise RuntimeError(f"the warm-up user failed: {first.errors}")
        idle = server_rss_bytes(port)
        start = time.perf_counter()
        with PeakRss(port) as rss:
            outcomes = await asyncio.gather(*(run_user(browser, base_url, k, photos) for k in range(users)))
        wall = time.perf_counter() - start
    return LoadReport(list(outcomes), wall, round(rss.peak / 2**20, 1), round(idle / 2**20, 1))
