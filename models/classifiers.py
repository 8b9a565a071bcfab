"""The classifier contract shared by every model, and its three implementations.

Every classifier has ``name``, ``class_names``, ``describe()``, ``predict_proba(images)`` and
``activations(images)``; the photo classifier adds ``gradcam(image, target=None)``. Inputs are raw images
under the contract of ``models.inputs`` (uint8 0..255 or float 0..1); resizing and normalisation happen
here, with constants read from the checkpoint. Inference is
deterministic and stateless (eval mode, no caches), so one instance can serve many threads at once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from models.inputs import as_digit_batch, as_photo_list, normalise_digits
from models.numpy_mlp import NumpyMLP, layer_names

DIGIT_CLASSES = [str(d) for d in range(10)]  # class names of every digit classifier


class Classifier:
    """Base class: identity and description; subclasses implement predict_proba and activations."""

    def __init__(self, name: str, class_names: list[str], meta: dict[str, Any], model: Any) -> None:
        self.name = name
        self.class_names = list(class_names)
        self.meta = meta
        self.model = model

    def num_parameters(self) -> int:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Architecture, parameter count, config, training settings and metrics, as a JSON-friendly dict."""
        return {
            "name": self.name,
            "model_type": self.meta["model_type"],
            "architecture": self.meta.get("architecture", ""),
            "parameters": self.num_parameters(),
            "class_names": self.class_names,
            "config": self.meta.get("config", {}),
            "normalization": self.meta.get("normalization", {}),
            "training": self.meta.get("training", {}),
            "metrics": self.meta.get("metrics", {}),
            "checkpoint": self.meta.get("checkpoint", {}),
        }

    def predict_proba(self, images: Any) -> np.ndarray:
        raise NotImplementedError

    def activations(self, images: Any) -> OrderedDict[str, np.ndarray]:
        raise NotImplementedError

    def predict(self, images: Any) -> np.ndarray:
        """Index of the most probable class for each image, (N,)."""
        return self.predict_proba(images).argmax(axis=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} classes={self.class_names}>"


class DigitClassifierBase(Classifier):
    """Digits: (N, 28, 28) white on black under the input contract, standardised with the checkpoint's statistics."""

    def normalise(self, images: Any) -> np.ndarray:
        """uint8 0..255 or float 0..1 (N, 28, 28) -> float32 (N, 28, 28), (x - mean) / std on the 0..1 scale."""
        norm = self.meta["normalization"]
        return normalise_digits(as_digit_batch(images), norm["mean"], norm["std"])


class NumpyDigitClassifier(DigitClassifierBase):
    """Wraps the from-scratch NumpyMLP (no torch needed)."""

    model: NumpyMLP

    def num_parameters(self) -> int:
        return self.model.num_parameters()

    def predict_proba(self, images: Any) -> np.ndarray:
        x = self.normalise(images)
        return self.model.predict_proba(x.reshape(len(x), -1))

    def activations(self, images: Any) -> OrderedDict[str, np.ndarray]:
        x = self.normalise(images)
        zs, activations, _ = self.model.forward(x.reshape(len(x), -1))
        # activations[0] is the input; hidden layers follow; the logits are the last z.
        return OrderedDict(zip(layer_names(self.model.config), [*activations[1:], zs[-1]]))


class TorchClassifierBase(Classifier):
    """Shared torch plumbing: a model in eval mode exposing ``forward_with_activations``."""

    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def to_tensor(self, images: Any):  # -> torch.Tensor, shape set by the subclass
        raise NotImplementedError

    def _run(self, images: Any):
        import torch

        with torch.inference_mode():
            return self.model.forward_with_activations(self.to_tensor(images))

    def predict_proba(self, images: Any) -> np.ndarray:
        import torch

        logits, _ = self._run(images)
        return torch.softmax(logits.double(), dim=1).numpy()

    def activations(self, images: Any) -> OrderedDict[str, np.ndarray]:
        _, acts = self._run(images)
        return OrderedDict((k, v.numpy()) for k, v in acts.items())


class TorchDigitClassifier(DigitClassifierBase, TorchClassifierBase):
    """The PyTorch MLP (flat input) or the digit CNN (image input)."""

    def __init__(self, *args: Any, flat_input: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flat_input = flat_input

    def to_tensor(self, images: Any):
        import torch

        x = torch.from_numpy(self.normalise(images))  # (N, 28, 28)
        return x.reshape(len(x), -1) if self.flat_input else x.unsqueeze(1)  # (N, 784) or (N, 1, 28, 28)


class PhotoClassifier(TorchClassifierBase):
    """RGB photos of any size -> the CNN's square input; adds Grad-CAM."""

    def to_tensor(self, images: Any):
        import torch

        from models.preprocessing import resize_photo

        side = self.model.config.image_size
        batch = np.stack([resize_photo(img, side) for img in as_photo_list(images)])  # (N, S, S, 3) uint8
        norm = self.meta["normalization"]
        x = batch.astype(np.float32) / 255.0
        x = (x - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # (N, 3, S, S)

    def gradcam(self, image: np.ndarray, target: int | None = None) -> np.ndarray:
        """Grad-CAM (Selvaraju et al., 2017) for one image, float32 (H, W) in [0, 1] at the image's size.

        Uses the last block's convolutional output before its pooling: the gradient of the target logit
        (the predicted class unless ``target`` is given), averaged over space, weights its channels.
        """
        import torch
        import torch.nn.functional as F

        (img,) = as_photo_list([image])
        x = self.to_tensor([img])
        with torch.enable_grad():
            for block in self.model.blocks[:-1]:
                x = block(x)
            last = self.model.blocks[-1]
            features = last[:-1](x).detach().requires_grad_(True)  # (1, C, h, w), before the pooling
            logits = self.model.head(last[-1](features))
            cls = int(logits.argmax(1)) if target is None else int(target)
            if not 0 <= cls < len(self.class_names):
                raise ValueError(f"target must be in 0..{len(self.class_names) - 1}, got {target}")
            (grads,) = torch.autograd.grad(logits[0, cls], features)
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = torch.relu((weights * features.detach()).sum(dim=1, keepdim=True))  # (1, 1, h, w)
        cam = F.interpolate(cam, size=img.shape[:2], mode="bilinear", align_corners=False)[0, 0]
        peak = float(cam.max())
        cam = cam / peak if peak > 0 else torch.zeros_like(cam)
        return cam.clamp(0, 1).numpy().astype(np.float32)
