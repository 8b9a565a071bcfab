"""What every page shares: models loaded once per server (``shared_model``), the feedback store (opened once
per server and database; neither is in Streamlit's caches, which any visitor can clear), the visitor's own MLP
from the training page, reading what visitors send (uploads and the drawing canvas, decoded under a budget in
worker processes) and small display helpers. Pages import this, never each other."""

from __future__ import annotations

import binascii
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import streamlit as st

from app.logic.checkpoints import (
    DIGIT_MODELS,
    PET_MODELS,
    checkpoint_path,
    shared_model,
)
from app.logic.feedback_view import store_problem, store_url
from app.logic.live_run import LiveRun
from app.logic.reports import EvalReport, load_eval_report
from feedback import FeedbackStore
from models.classifiers import Classifier
from models.preprocessing import NEUTRAL_GREY
from models.registry import ModelInfo
from uploads import UPLOAD_EXTENSIONS, InvalidImageError, default_pool, load_photo, read_canvas

# The training page keeps the visitor's run (a LiveRun) and the model before it under these session keys.
RUN_KEY, PREVIOUS_KEY = "live_run", "live_previous_mlp"
MAX_SHOWN_ASPECT = 4  # a photo thinner than 1:4 is shown letterboxed (Streamlit cannot scale a 1-pixel sliver)

# Start a decoding worker now, so that the first upload or drawing does not wait ~0.3 s for one.
default_pool().prewarm()


def available_models(specs: Sequence[ModelInfo]) -> dict[ModelInfo, Classifier]:
    """The models among ``specs`` that loaded; each one that did not gets a warning naming its training command."""
    models: dict[ModelInfo, Classifier] = {}
    for spec in specs:
        loaded = shared_model(spec)
        if loaded.classifier is None:
            st.warning(loaded.problem(), icon=":material/warning:")
        else:
            models[spec] = loaded.classifier
    return models


def digit_models() -> dict[str, Classifier]:
    """The digit models that loaded, by key (missing ones are reported by ``available_models``)."""
    return {spec.key: clf for spec, clf in available_models(DIGIT_MODELS).items()}


def pet_models() -> dict[ModelInfo, Classifier]:
    """The photo models that loaded (missing ones are reported by ``available_models``)."""
    return available_models(PET_MODELS)


def your_mlp() -> Classifier | None:
    """The visitor's "Your MLP" for the draw page: the model of their last run that finished or was stopped
    (while a new run trains, the one before it), or None. Calling it counts as a heartbeat for the run."""
    run: LiveRun | None = st.session_state.get(RUN_KEY)
    if run is not None:
        run.touch()
    mine = run.classifier() if run is not None else None
    return mine or st.session_state.get(PREVIOUS_KEY)


@functools.lru_cache(maxsize=8)
def _open_store(url: str) -> FeedbackStore:
    """One store per database per server, with every visitor's save allowance: held in a plain
    ``functools.lru_cache``, out of reach of Streamlit's "Clear cache" (which any visitor can send). ``url`` is
    only the cache key (so tests and a changed $PLAYGROUND_DB_URL get their own): FeedbackStore() picks the same
    database and creates the default folder."""
    return FeedbackStore()  # connects on first use, and again on the next use after a failure


def feedback_store() -> FeedbackStore:
    """The visitors' drawings (saved by the draw page, shown by the gallery page)."""
    return _open_store(store_url())


@st.cache_data(ttl=30, show_spinner=False)
def _problem(url: str) -> str | None:
    return store_problem(_open_store(url))


def saving_problem() -> str | None:
    """Why drawings cannot be saved now, or None. Checked at most every 30 s per server: a database server that
    does not answer takes seconds to time out, which must not delay every stroke."""
    return _problem(store_url())


def saved_report(spec: ModelInfo, clf: Classifier) -> EvalReport:
    """The model's saved full-test-set evaluation (or why it has none), checked against its checkpoint."""
    return load_eval_report(checkpoint_path(spec), clf.describe()["checkpoint"].get("sha256", ""), clf.class_names)


def photo_or_error(data: bytes) -> np.ndarray | None:
    """Image bytes -> uint8 RGB via load_photo, or None after an error box saying why the file is unusable."""
    try:
        return load_photo(data)
    except InvalidImageError as e:
        st.error(f"Could not use this file: {e}", icon=":material/block:")
        return None


def uploaded_photo(label: str, key: str, help: str, prompt: str, icon: str | None = None) -> np.ndarray | None:
    """An image upload widget; the upload as uint8 RGB, or None after showing ``prompt`` (nothing uploaded
    yet) or an error (the file cannot be used)."""
    upload = st.file_uploader(label, type=list(UPLOAD_EXTENSIONS), key=key, help=help)
    if upload is None:
        st.info(prompt, icon=icon)
        return None
    return photo_or_error(upload.getvalue())


def drawing_or_error(canvas: Any, side: int) -> np.ndarray | None:
    """The drawing canvas component's result -> uint8 RGBA (side, side, 4), or None when nothing was drawn
    yet or (after an error box) when what the browser sent is not the canvas's PNG. Only the raw bytes
    are read (``image_bytes``): the component's ``image_data`` would decode whatever arrived, unbounded."""
    try:
        png = canvas.image_bytes
    except (ValueError, binascii.Error, AttributeError, TypeError):  # not a base64 data URL, or not text at all
        png = b""
    if png is None:
        return None
    try:
        return read_canvas(png, side)
    except InvalidImageError as e:
        st.error(str(e), icon=":material/block:")
        return None


def shown(photo: np.ndarray) -> np.ndarray:
    """A photo ready for ``st.image``: one thinner than 1:MAX_SHOWN_ASPECT (a 3200 x 2 strip, say) is
    letterboxed on neutral grey, since Streamlit's own downscaling would make its short side 0 pixels."""
    h, w = photo.shape[:2]
    short = -(-max(h, w) // MAX_SHOWN_ASPECT)  # ceil
    if min(h, w) >= short:
        return photo
    pad_h, pad_w = max(0, short - h), max(0, short - w)
    pad = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    return np.stack([np.pad(photo[..., c], pad[:2], constant_values=NEUTRAL_GREY[c]) for c in range(3)], axis=2)
