"""The photo classifiers (cat, dog, and "neither" when trained with it): the contract of models/classifiers.py
for RGB photos of any size, each stretched to the model's square ``input_size`` (models/preprocessing/photo.py).

- ``PetMLPClassifier`` wraps the from-scratch NumPy MLP, which sees the photo as one flat vector
  (input_size x input_size x 3, row by row); it says which pixels mattered with ``input_gradient``.
- ``PetCNNClassifier`` wraps a CNN (the small textbook one or the deep one); it says where it looked with
  ``gradcam``.
Both standardise pixels with the per-channel mean and std the checkpoint carries.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.classifiers import Classifier, NumpyMLPClassifier, TorchClassifierBase
from models.preprocessing import photo_pixels


class PhotoClassifierBase(Classifier):
    """Shared: the side of the square input, and pixels -> standardised float32 (N, S, S, 3)."""

    input_size: int

    def normalise(self, images: Any) -> np.ndarray:
        """Photos under the input contract -> float32 (N, S, S, 3), (pixel - mean) / std per channel."""
        norm = self.meta["normalization"]
        mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
        return (photo_pixels(images, self.input_size) - mean) / std


class PetMLPClassifier(NumpyMLPClassifier, PhotoClassifierBase):
    """The NumPy MLP on photos (no torch needed): input (N, S*S*3) in (row, column, channel) order; its
    ``input_gradient`` is (N, S, S, 3) at the model's input size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.input_size = int(round((self.model.config.sizes[0] / 3) ** 0.5))


class PetCNNClassifier(PhotoClassifierBase, TorchClassifierBase):
    """A CNN on photos; adds Grad-CAM."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.input_size = int(self.model.config.image_size)

    def to_tensor(self, images: Any):
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.normalise(images).transpose(0, 3, 1, 2)))  # (N, 3, S, S)

    def gradcam(self, image: np.ndarray, target: int | None = None) -> np.ndarray:
        """Grad-CAM (Selvaraju et al., 2017) for one image, float32 (H, W) in [0, 1] at the image's size.

        Uses the last block's convolutional output before its pooling: the gradient of the target class's
        logit (the predicted class unless ``target`` is given), averaged over space, weights its channels.
        """
        import torch
        import torch.nn.functional as F

        x = self.to_tensor([image])
        with torch.enable_grad():
            for block in self.model.blocks[:-1]:
                x = block(x)
            last = self.model.blocks[-1]
            features = last[:-1](x).detach().requires_grad_(True)  # (1, C, h, w), before the pooling
            logits = self.model.head(last[-1](features))
            cls = int(logits[:, : len(self.class_names)].argmax(1)) if target is None else int(target)
            if not 0 <= cls < len(self.class_names):
                raise ValueError(f"target must be in 0..{len(self.class_names) - 1}, got {target}")
            (grads,) = torch.autograd.grad(logits[0, cls], features)
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = torch.relu((weights * features.detach()).sum(dim=1, keepdim=True))  # (1, 1, h, w)
        cam = F.interpolate(cam, size=np.asarray(image).shape[:2], mode="bilinear", align_corners=False)[0, 0]
        peak = float(cam.max())
        cam = cam / peak if peak > 0 else torch.zeros_like(cam)
        return cam.clamp(0, 1).numpy().astype(np.float32)
