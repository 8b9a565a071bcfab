"""The one table of models. Everything that lists models reads it: the loader, ``python -m training.train``,
the app's pages, the benchmarks and the tests. Adding a model is one row here, plus its module and trainer.

A model's ``key`` is its one name: the training CLI's sub-command, the checkpoint's ``model_type`` and its
file stem (``checkpoints/<key>.safetensors``). ``name`` is how every page, table and README calls it. The
classes are named as "module:Class" and imported only when asked for, so reading the table imports neither
torch nor the trainers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

TASKS = ("digits", "pets")  # what a model answers: MNIST-style digits, or cat / dog photos


@dataclass(frozen=True)
class ModelInfo:
    """One row of the table."""

    key: str  # sub-command, model_type, file stem
    name: str  # the display name, the same on every page and in README
    task: str  # one of TASKS
    summary: str  # what it is, in one line (``--help``, README)
    config: str  # "module:Class" of its frozen config dataclass (carried by the checkpoint)
    network: str  # "module:Class" of the network built from that config
    classifier: str  # "module:Class" of the classifier that wraps the network (models.classifiers)
    trainer: str  # the module that trains it: add_arguments(parser, key) and run(args)

    @property
    def filename(self) -> str:
        return f"{self.key}.safetensors"

    @property
    def train_command(self) -> str:
        """The command that (re)creates its shipped checkpoint."""
        return f"python -m training.train {self.key} --out checkpoints/{self.filename} --force"

    @property
    def uses_torch(self) -> bool:
        return not self.network.startswith("models.numpy_mlp:")

    def config_class(self) -> type:
        return _resolve(self.config)

    def network_class(self) -> type:
        return _resolve(self.network)

    def classifier_class(self) -> type:
        return _resolve(self.classifier)


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("numpy_mlp", "NumPy MLP", "digits", "the from-scratch NumPy MLP on MNIST (hand-written backprop)",
              "models.numpy_mlp:MLPConfig", "models.numpy_mlp:NumpyMLP",
              "models.classifiers:NumpyDigitClassifier", "training.train_numpy_mlp"),
    ModelInfo("torch_mlp", "PyTorch MLP", "digits", "the same MLP in PyTorch on MNIST",
              "models.numpy_mlp:MLPConfig", "models.torch_mlp:TorchMLP",
              "models.classifiers:TorchDigitClassifier", "training.train_digits_torch"),
    ModelInfo("digit_cnn", "Digit CNN", "digits", "a small convolutional network on MNIST",
              "models.cnn:CNNConfig", "models.cnn:CNN",
              "models.classifiers:TorchDigitClassifier", "training.train_digits_torch"),
    ModelInfo("pet_mlp", "Pet MLP", "pets", "the from-scratch NumPy MLP on 32x32 photos: cat, dog or neither",
              "models.numpy_mlp:MLPConfig", "models.numpy_mlp:NumpyMLP",
              "models.photo_classifiers:PetMLPClassifier", "training.train_pet_mlp"),
    ModelInfo("pet_small_cnn", "Small Pet CNN", "pets",
              "the textbook CNN (conv-ReLU-pool, no BatchNorm) on 64x64 photos: cat, dog or neither",
              "models.cnn:CNNConfig", "models.cnn:CNN",
              "models.photo_classifiers:PetCNNClassifier", "training.train_pet_small_cnn"),
    ModelInfo("pet_cnn", "Pet CNN", "pets", "a deep CNN (BatchNorm, strong augmentation) on 128x128 photos: cat, "
              "dog or neither",
              "models.cnn:CNNConfig", "models.cnn:CNN",
              "models.photo_classifiers:PetCNNClassifier", "training.train_pet_cnn"),
)
BY_KEY: dict[str, ModelInfo] = {m.key: m for m in MODELS}
KEYS: tuple[str, ...] = tuple(BY_KEY)


def model_info(key: str) -> ModelInfo:
    """The row for ``key``; KeyError naming the known keys otherwise."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown model {key!r} (known: {', '.join(KEYS)})") from None


def models_for(task: str) -> tuple[ModelInfo, ...]:
    """The models of one task, in table order."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    return tuple(m for m in MODELS if m.task == task)
