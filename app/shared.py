"""What every page shares: models loaded once per server (``st.cache_resource``) and small display helpers."""

from __future__ import annotations

from collections.abc import Sequence
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
