"""What the server does once, before it accepts its first visitor (called by app/main.py's lifespan).

A visitor's first page must not pay for the server's start: importing torch, torchvision and the pages
(~1.5 s of CPU), loading and warming up every model (~1 s). So the server does it all here, then moves every
object it made into the garbage collector's permanent generation (``gc.freeze``). Streamlit collects
garbage after every script run (``runner.postScriptGC``); with ~400,000 long-lived objects (mostly torch's
modules) a full collection scanned them all, ~0.4 s of CPU per stroke. Frozen, they are never scanned again:
a collection costs only what the runs themselves left behind. NumPy's BLAS is held to one thread
(``limit_blas_threads``): its idle threads' spinning cost more CPU per stroke than the models themselves.
"""

from __future__ import annotations

import gc
import logging
import time

LOG = logging.getLogger(__name__)


def prepare_server() -> None:
    """Import every page, load and warm up every model (a missing one is reported by the pages, as before),
    start a decoding worker, then freeze everything made so far out of the collector's reach."""
    start = time.perf_counter()
    from app import compare_page, draw_page, feedback_page, pets_page, train_page  # noqa: F401 - imported for their cost
    from app.logic.checkpoints import DIGIT_MODELS, PET_MODELS, shared_model
    from models.runtime import configure_torch_threads, limit_blas_threads

    configure_torch_threads()
    limit_blas_threads()
    loaded = [shared_model(spec) for spec in DIGIT_MODELS + PET_MODELS]
    gc.collect()
    gc.freeze()
    LOG.warning("server ready in %.1f s: %d of %d models loaded, %d objects frozen", time.perf_counter() - start,
                sum(m.ok for m in loaded), len(loaded), gc.get_freeze_count())
