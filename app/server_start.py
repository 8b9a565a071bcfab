"""What the server does once, before it accepts its first visitor (called by app/main.py's lifespan).

A visitor's first page must not pay for the server's start: importing torch, torchvision and the pages
(~1.5 s of CPU), loading and warming up every model (~1 s). So the server does it all here, then moves every
object it made into the garbage collector's permanent generation (``gc.freeze``). Streamlit collects
garbage after every script run (``runner.postScriptGC``); with ~400,000 long-lived objects (mostly torch's
modules) a full collection scanned them all, ~0.4 s of CPU per stroke. Frozen, they are never scanned again:
a collection costs only what the runs themselves left behind. NumPy's BLAS is held to one thread
(``limit_blas_threads``): its idle threads' spinning cost more CPU per stroke than the models themselves.
Streamlit also polls every config.toml it could read five times a second, whatever ``server.fileWatcherType``
says: ~3 ms of CPU every second on an idle server, as much as a stroke every 10 s. The app reads its
configuration once, at start, so that polling is stopped (``_stop_config_polling``).
"""

from __future__ import annotations

import gc
import logging
import time

LOG = logging.getLogger(__name__)


def _stop_config_polling() -> None:
    """Stop Streamlit's polling of config.toml: its pollers run as tasks of one thread pool (a private detail of
    Streamlit 1.67, hence the guard), and each task schedules the next; once the pool is shut down the next
    cannot be scheduled. A changed config.toml then takes effect at the next start, as on most servers."""
    from streamlit.watcher import polling_path_watcher

    pool = getattr(getattr(polling_path_watcher, "PollingPathWatcher", None), "_executor", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def prepare_server() -> None:
    """Import every page (app/shared.py starts a decoding worker as it is imported), load and warm up every
    model (a missing one is reported by the pages, as before), then freeze everything made so far out of the
    collector's reach."""
    start = time.perf_counter()
    from app import compare_page, draw_page, feedback_page, pets_page, train_page  # noqa: F401 - imported for their cost
    from app.logic.checkpoints import DIGIT_MODELS, PET_MODELS, shared_model
    from models.runtime import configure_torch_threads, limit_blas_threads

    configure_torch_threads()
    limit_blas_threads()
    loaded = [shared_model(spec) for spec in DIGIT_MODELS + PET_MODELS]
    _stop_config_polling()
    gc.collect()
    gc.freeze()
    LOG.info("server ready in %.1f s: %d of %d models loaded, %d objects frozen", time.perf_counter() - start,
                sum(m.ok for m in loaded), len(loaded), gc.get_freeze_count())
