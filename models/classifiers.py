"""The classifier contract shared by every model, and the digit classifiers.

Every classifier has ``name``, ``class_names``, ``describe()``, ``predict_proba(images)`` and
``activations(images)``. Digit classifiers add ``input_gradient(images, target)``; the photo
classifiers (models/photo_classifiers.py) add ``input_size`` and ``gradcam`` (the CNNs) or ``input_gradient``
(the MLP). Inputs are raw images under the contract of ``models.inputs`` (uint8 0..255 or float 0..1);
resizing and normalisation happen here, with constants read from the checkpoint.

Honest answers, from what the checkpoint carries:
- ``predict_proba`` is calibrated: the class logits are divided by the temperature fitted on validation data
  (meta "calibration"; 1 when absent);
- a model trained with an "unknown" output (one more logit than classes: "none of these") has
  ``unknown_score(images)``, the log-odds of that output against all classes (higher = less like any class),
  and ``unknown_threshold`` (meta "unknown"), above which it says "I don't know". The unknown output is kept
  out of ``predict_proba``, whose rows stay distributions over ``class_names``.
Inference is deterministic and stateless (eval mode, no caches), so one instance can serve many threads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from models.inputs import as_digit_batch, normalise_digits
from models.numpy_mlp import MLPConfig, NumpyMLP, layer_names, log_softmax

DIGIT_CLASSES = [str(d) for d in range(10)]  # class names of every digit classifier


def logsumexp(x: np.ndarray) -> np.ndarray:
    """log(sum(exp(x))) over the last axis, stable for large values."""
    top = x.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True)))[..., 0]


class Classifier:
    """Base class: identity, description and the calibrated answers; subclasses give ``logits``."""

    def __init__(self, name: str, class_names: list[str], meta: dict[str, Any], model: Any) -> None:
        self.name = name
        self.class_names = list(class_names)
        self.meta = meta
        self.model = model
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))

    def num_parameters(self) -> int:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Architecture, parameter count, config, training settings and metrics, as a JSON-friendly dict."""
        keys = ("config", "normalization", "training", "metrics", "checkpoint", "calibration", "unknown")
        return {
            "name": self.name,
            "model_type": self.meta["model_type"],
            "architecture": self.meta.get("architecture", ""),
            "parameters": self.num_parameters(),
            "class_names": self.class_names,
            **{key: self.meta.get(key, {}) for key in keys},
        }

    def logits(self, images: Any) -> np.ndarray:
        """The network's raw outputs, float (N, outputs): one per class, plus the unknown output if it has one."""
        raise NotImplementedError

    def activations(self, images: Any) -> OrderedDict[str, np.ndarray]:
        raise NotImplementedError

    @property
    def has_unknown_output(self) -> bool:
        return "unknown" in self.meta

    def class_logits(self, logits: np.ndarray) -> np.ndarray:
        """The class part of ``logits`` divided by the temperature, float64 (N, classes)."""
        return np.asarray(logits, np.float64)[:, : len(self.class_names)] / self.temperature

    def predict_proba(self, images: Any) -> np.ndarray:
        """Calibrated probabilities over ``class_names``, float (N, classes), rows summing to 1."""
        return self.proba_of(self.logits(images))

    def proba_of(self, logits: np.ndarray) -> np.ndarray:
        """``predict_proba`` from logits already computed (N, outputs), e.g. the last of ``activations``."""
        return np.exp(log_softmax(self.class_logits(logits)))

    def predict(self, images: Any) -> np.ndarray:
        """Index of the most probable class for each image, (N,)."""
        return self.predict_proba(images).argmax(axis=1)

    @property
    def unknown_score(self) -> Callable[[Any], np.ndarray]:
        """``clf.unknown_score(images)``: how little each input looks like any class, float (N,): the reject
        output's log-odds against all classes, z_reject - logsumexp(z_classes). Over ``unknown_threshold`` the
        model says "I don't know". A model without an unknown output has no such attribute (hasattr is False)."""
        if not self.has_unknown_output:
            raise AttributeError(f"{self.name} was trained without an unknown output: it has no unknown_score")
        return lambda images: self.unknown_score_of(self.logits(images))

    def unknown_score_of(self, logits: np.ndarray) -> np.ndarray:
        """``unknown_score`` from logits already computed (N, outputs) -> float (N,)."""
        if not self.has_unknown_output:
            raise AttributeError(f"{self.name} was trained without an unknown output: it has no unknown_score")
        z = np.asarray(logits, np.float64)
        return z[:, len(self.class_names)] - logsumexp(z[:, : len(self.class_names)])

    @property
    def unknown_threshold(self) -> float:
        """The unknown_score above which the model says "I don't know", chosen on validation data."""
        if not self.has_unknown_output:
            raise AttributeError(f"{self.name} was trained without an unknown output: it has no unknown_threshold")
        return float(self.meta["unknown"]["threshold"])

    def dlogits(self, logits: np.ndarray, target: Any) -> np.ndarray:
        """d log p(target) / d logits for every row, float (N, outputs): (onehot(target) - p) / T on the class
        logits (p = predict_proba), 0 on the unknown output."""
        target = np.asarray(target)
        if target.shape != (len(logits),) or target.dtype.kind not in "iu":
            raise ValueError(f"target must be an int array of shape ({len(logits)},), got {target.dtype} "
                             f"{target.shape}")
        if ((target < 0) | (target >= len(self.class_names))).any():
            raise ValueError(f"target must be class indices 0..{len(self.class_names) - 1}")
        p = self.proba_of(logits)
        grad = np.zeros(np.shape(logits), np.float64)
        grad[:, : len(self.class_names)] = -p
        grad[np.arange(len(target)), target] += 1.0
        return grad / self.temperature

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} classes={self.class_names}>"


class DigitClassifierBase(Classifier):
    """Digits: (N, 28, 28) white on black under the input contract, standardised with the checkpoint's statistics."""

    def normalise(self, images: Any) -> np.ndarray:
        """uint8 0..255 or float 0..1 (N, 28, 28) -> float32 (N, 28, 28), (x - mean) / std on the 0..1 scale."""
        norm = self.meta["normalization"]
        return normalise_digits(as_digit_batch(images), norm["mean"], norm["std"])

    def input_gradient(self, images: Any, target: Any) -> np.ndarray:
        """d log p(target) / d pixel, float (N, 28, 28), pixels on the 0..1 scale (``images`` under the input
        contract; ``target``: int (N,) class indices)."""
        raise NotImplementedError


class NumpyMLPClassifier(Classifier):
    """The from-scratch NumpyMLP (no torch needed) behind any input: the subclass's ``normalise(images)`` gives
    standardised float32 (N, *pixels), which the network reads flattened (row by row, channels last)."""

    model: NumpyMLP

    def num_parameters(self) -> int:
        return self.model.num_parameters()

    def _flat(self, images: Any) -> np.ndarray:
        x = self.normalise(images)
        return x.reshape(len(x), -1)  # (N, 784) for digits, (N, S*S*3) for photos

    def logits(self, images: Any) -> np.ndarray:
        return self.model.forward(self._flat(images))[0][-1]

    def activations(self, images: Any) -> OrderedDict[str, np.ndarray]:
        zs, activations, _ = self.model.forward(self._flat(images))
        # activations[0] is the input; hidden layers follow; the logits are the last z.
        return OrderedDict(zip(layer_names(self.model.config), [*activations[1:], zs[-1]]))

    def input_gradient(self, images: Any, target: Any) -> np.ndarray:
        """d log p(target) / d pixel, float (N, *pixels) shaped like the normalised input, pixels on the 0..1
        scale (``target``: int (N,) class indices)."""
        # By hand: dlogp/dlogits, back through the network (NumpyMLP.input_gradient), then through the
        # normalisation x_norm = (x - mean) / std, whose derivative is 1 / std (one std, or one per channel).
        x = self.normalise(images)
        flat = x.reshape(len(x), -1)
        upstream = self.dlogits(self.model.forward(flat)[0][-1], target).astype(np.float32)
        grad = self.model.input_gradient(flat, upstream).reshape(x.shape)
        return (grad / np.asarray(self.meta["normalization"]["std"], np.float32)).astype(np.float64)


class NumpyDigitClassifier(NumpyMLPClassifier, DigitClassifierBase):
    """The NumPy MLP on digits."""


class TorchClassifierBase(Classifier):
    """Shared torch plumbing: a model in eval mode exposing ``forward_with_activations``."""

    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def to_tensor(self, images: Any):  # -> torch.Tensor, shape set by the subclass
        raise NotImplementedError

    def logits(self, images: Any) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(self.to_tensor(images)).numpy()

    def activations(self, images: Any) -> OrderedDict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            _, acts = self.model.forward_with_activations(self.to_tensor(images))
        return OrderedDict((k, v.numpy()) for k, v in acts.items())


class TorchDigitClassifier(DigitClassifierBase, TorchClassifierBase):
    """The PyTorch MLP (flat input: its config is an MLPConfig) or the digit CNN (image input)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flat_input = isinstance(self.model.config, MLPConfig)

    def to_tensor(self, images: Any):
        import torch

        x = torch.from_numpy(self.normalise(images))  # (N, 28, 28)
        return x.reshape(len(x), -1) if self.flat_input else x.unsqueeze(1)  # (N, 784) or (N, 1, 28, 28)

    def input_gradient(self, images: Any, target: Any) -> np.ndarray:
        import torch

        x = self.to_tensor(images).requires_grad_(True)  # normalised; d x_norm / d pixel = 1 / std
        with torch.enable_grad():
            logits = self.model(x)
            upstream = torch.from_numpy(self.dlogits(logits.detach().numpy(), target).astype(np.float32))
            (grad,) = torch.autograd.grad(logits, x, grad_outputs=upstream)
        std = float(self.meta["normalization"]["std"])
        return (grad.numpy() / std).reshape(len(grad), 28, 28).astype(np.float64)
