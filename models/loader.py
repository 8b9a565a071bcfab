"""The one loader: a checkpoint file -> a ready classifier, rebuilt from the config it carries.

The app, the CLIs and outside tools all call ``load_classifier``; nobody else constructs models from
checkpoints. Torch is imported only for the torch models, so the NumPy MLP loads without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoint import CheckpointError, load_checkpoint, sha256_of
from models.classifiers import Classifier
from models.model_checks import check_shapes, config_from_meta, numpy_mlp_shapes, torch_shapes
from models.registry import BY_KEY, KEYS, ModelInfo


def build_network(info: ModelInfo, config: Any) -> Any:
    """A fresh (untrained) network for a row of the model table and its config."""
    return info.network_class()(config)


def load_classifier(path: str | os.PathLike) -> Classifier:
    """Load any checkpoint of this project and return its classifier.

    Raises CheckpointError (a ValueError) naming the file when it is missing, unreadable, refused by the
    manifest, of an unknown model type, or when its arrays do not fit the model its config describes.
    """
    path = Path(path)
    tensors, meta = load_checkpoint(path)
    model_type = meta["model_type"]
    info = BY_KEY.get(model_type)
    if info is None:
        raise CheckpointError(f"{path}: unknown model type {model_type!r} (known: {', '.join(KEYS)})")
    meta = {**meta, "checkpoint": {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_of(path)}}
    # The config must describe exactly the arrays in the file before anything is allocated for it.
    config = config_from_meta(info.config_class(), meta, path)
    expected = torch_shapes(lambda: build_network(info, config), len(tensors), path) if info.uses_torch \
        else numpy_mlp_shapes(config)
    check_shapes(expected, {k: v.shape for k, v in tensors.items()}, model_type, path)
    try:
        model = build_network(info, config)
        if info.uses_torch:
            import torch

            model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
            model.eval()
        else:
            model.load_state_dict({k: v.astype(np.float32) for k, v in tensors.items()})
        return info.classifier_class()(info.name, meta["class_names"], meta, model)
    except Exception as e:  # noqa: BLE001 - after the checks above, any failure here is still this file's fault
        raise CheckpointError(f"{path}: weights do not fit the {model_type} described by its config ({e})") from e
