"""What every page shares: models loaded once per server (``st.cache_resource``) and small display helpers."""

from __future__ import annotations

from pathlib import Path

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


def digit_models() -> dict[str, Classifier]:
    """The digit models that loaded, by key; each missing one gets an error box naming its training command."""
    models: dict[str, Classifier] = {}
    for spec in DIGIT_MODELS:
        loaded = loaded_model(spec)
        if loaded.classifier is None:
            st.error(loaded.problem(), icon=":material/warning:")
        else:
            models[spec.key] = loaded.classifier
    return models


def pet_model() -> Classifier | None:
    """The cats-vs-dogs model, or None after showing why it is unavailable."""
    loaded = loaded_model(PET_MODEL)
    if loaded.classifier is None:
        st.warning(loaded.problem(), icon=":material/warning:")
    return loaded.classifier
