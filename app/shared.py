"""What every page shares: models loaded once per server (``st.cache_resource``) and small display helpers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from app.logic.registry import (
    DIGIT_MODELS,
    PET_MODEL,
    LoadedModel,
    ModelSpec,
    checkpoint_path,
    checkpoint_stamp,
    load_model,
    warm_up,
)
from models.classifiers import Classifier
from models.preprocessing import UPLOAD_EXTENSIONS, InvalidImageError, load_photo


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _load(spec: ModelSpec, path: str, stamp: float) -> LoadedModel:
    """One model per (file, modification time), shared by every session; ``stamp`` is only a cache key."""
    loaded = load_model(spec, Path(path))
    if loaded.classifier is not None:
        warm_up(loaded.classifier)
    return loaded


def loaded_model(spec: ModelSpec) -> LoadedModel:
    path = checkpoint_path(spec)
    return _load(spec, str(path), checkpoint_stamp(path))


def available_models(specs: Sequence[ModelSpec]) -> dict[ModelSpec, Classifier]:
    """The models among ``specs`` that loaded; each one that did not gets a warning naming its training command."""
    models: dict[ModelSpec, Classifier] = {}
    for spec in specs:
        loaded = loaded_model(spec)
        if loaded.classifier is None:
            st.warning(loaded.problem(), icon=":material/warning:")
        else:
            models[spec] = loaded.classifier
    return models


def digit_models() -> dict[str, Classifier]:
    """The digit models that loaded, by key (missing ones are reported by ``available_models``)."""
    return {spec.key: clf for spec, clf in available_models(DIGIT_MODELS).items()}


def pet_model() -> Classifier | None:
    """The cats-vs-dogs model, or None after showing why it is unavailable."""
    return available_models([PET_MODEL]).get(PET_MODEL)


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
