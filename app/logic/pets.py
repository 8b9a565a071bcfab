"""Cats vs dogs: one photo -> prediction, Grad-CAM overlay and the feature maps of every conv block."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from app.logic.activations import LayerGrid, activation_grids
from app.logic.images import apply_colormap
from models.classifiers import Classifier

MAX_MAPS_SHOWN = 64  # later blocks have up to 256 maps; the first 64 already show the idea and load fast


@dataclass(frozen=True)
class PhotoResult:
    """The pet model's answer for one photo: class probabilities, Grad-CAM overlay and feature-map grids."""

    class_names: list[str]
    probabilities: np.ndarray  # float (n_classes,)
    cam: np.ndarray  # float (H, W) in [0, 1]
    overlay: np.ndarray  # uint8 (H, W, 3)
    grids: list[LayerGrid]
    milliseconds: float
    unknown_score: float | None = None  # the model's "neither" score and threshold (None if it has none)
    unknown_threshold: float | None = None

    @property
    def label(self) -> str:
        return self.class_names[int(self.probabilities.argmax())]

    @property
    def is_known(self) -> bool:
        """False when the "neither a cat nor a dog" score is over the model's threshold."""
        return self.unknown_score is None or self.unknown_score <= self.unknown_threshold

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())


def gradcam_overlay(photo: np.ndarray, cam: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """Blend a heat map over a photo: uint8 (H, W, 3) + float (H, W) in [0, 1] -> uint8 (H, W, 3).

    Each pixel's opacity grows with the heat, so cold regions keep the photo's own colours and hot ones turn
    red; that keeps the photo recognisable while the evidence the model used stands out.
    """
    photo = np.asarray(photo, np.float32)
    heat = np.clip(np.asarray(cam, np.float32), 0, 1)
    if heat.shape != photo.shape[:2]:
        raise ValueError(f"cam {heat.shape} and photo {photo.shape[:2]} must have the same height and width")
    alpha = (strength * np.sqrt(heat))[..., None]  # sqrt: moderately warm areas are visible too
    blended = photo * (1 - alpha) + apply_colormap(heat, "heat").astype(np.float32) * alpha
    return np.rint(blended).astype(np.uint8)


def analyse_photo(clf: Classifier, photo: np.ndarray) -> PhotoResult:
    """Everything the cats page shows for one uint8 RGB photo (as returned by uploads.load_photo)."""
    start = time.perf_counter()
    acts = clf.activations([photo])  # block<k>: (1, C, h, w), logits: (1, n_classes)
    probs = clf.proba_of(acts["logits"])[0]
    unknown = (float(clf.unknown_score_of(acts["logits"])[0]), clf.unknown_threshold) if clf.has_unknown_output else ()
    cam = clf.gradcam(photo)  # for the predicted class
    trimmed = {name: a[:, :MAX_MAPS_SHOWN] for name, a in acts.items()}
    # Label each grid with the layer's full shape, e.g. (256, 4, 4), even when only 64 maps are drawn.
    grids = [replace(g, shape=acts[g.name].shape[1:]) for g in activation_grids(trimmed)]
    return PhotoResult(
        clf.class_names, probs, cam, gradcam_overlay(photo, cam), grids, (time.perf_counter() - start) * 1000, *unknown
    )
