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
from models.classifiers import Classifier, NumpyDigitClassifier, PhotoClassifier, TorchDigitClassifier
from models.model_checks import check_shapes, config_from_meta, numpy_mlp_shapes, torch_shapes
from models.numpy_mlp import MLPConfig, NumpyMLP

# One name per model: the training CLI's sub-command, the checkpoint's model_type and its file stem.
MODEL_TYPES = ("numpy_mlp", "torch_mlp", "digit_cnn", "pet_cnn")


def build_torch_model(model_type: str, config: Any) -> Any:
    """A fresh (untrained) torch module for a model type and its config."""
    if model_type == "torch_mlp":
        from models.torch_mlp import TorchMLP

        return TorchMLP(config)
    from models.cnn import ConvNet

    return ConvNet(config)


def config_class(model_type: str) -> type:
    if model_type in ("numpy_mlp", "torch_mlp"):
        return MLPConfig
    from models.cnn import CNNConfig

    return CNNConfig


def load_classifier(path: str | os.PathLike) -> Classifier:
    """Load any checkpoint of this project and return its classifier.

    Raises CheckpointError (a ValueError) naming the file when it is missing, unreadable, refused by the
    manifest, of an unknown model type, or when its arrays do not fit the model its config describes.
    """
    path = Path(path)
    tensors, meta = load_checkpoint(path)
    model_type = meta["model_type"]
    if model_type not in MODEL_TYPES:
        raise CheckpointError(f"{path}: unknown model type {model_type!r} (known: {', '.join(MODEL_TYPES)})")
    meta = {**meta, "checkpoint": {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_of(path)}}
    name = str(meta.get("display_name") or model_type)
    # The config must describe exactly the arrays in the file before anything is allocated for it.
    config = config_from_meta(config_class(model_type), meta, path)
    expected = numpy_mlp_shapes(config) if model_type == "numpy_mlp" else torch_shapes(
        lambda: build_torch_model(model_type, config), len(tensors), path)
    check_shapes(expected, {k: v.shape for k, v in tensors.items()}, model_type, path)
    try:
        if model_type == "numpy_mlp":
            model = NumpyMLP(config)
            model.load_state_dict({k: v.astype(np.float32) for k, v in tensors.items()})
            return NumpyDigitClassifier(name, meta["class_names"], meta, model)
        import torch

        model = build_torch_model(model_type, config)
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
        model.eval()
        if model_type == "pet_cnn":
            return PhotoClassifier(name, meta["class_names"], meta, model)
        return TorchDigitClassifier(name, meta["class_names"], meta, model, flat_input=model_type == "torch_mlp")
    except Exception as e:  # noqa: BLE001 - after the checks above, any failure here is still this file's fault
        raise CheckpointError(f"{path}: weights do not fit the {model_type} described by its config ({e})") from e
