"""Cat, dog or neither: one photo through every photo model -> each model's answer, the photo as it receives
it, where it looked (Grad-CAM for the CNNs, input-gradient saliency for the MLP) and its layers.

One forward pass per model gives the probabilities, the "neither" score and the layers; where it looked
needs one backward pass more. The timing covers exactly the work the page shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from app.logic.activations import LayerGrid, activation_grids
from app.logic.digits import join_names
from app.logic.images import apply_colormap
from models.classifiers import Classifier
from models.preprocessing import photo_pixels

MAX_MAPS_SHOWN = 64  # later blocks have up to 256 maps; the first 64 already show the idea and load fast
VIEW_SIDE = 480  # heat maps are drawn over the photo shrunk to at most this side: a page shows no more
Clock = Callable[[], float]  # seconds (time.perf_counter; tests pass a fake one)


@dataclass(frozen=True)
class PhotoAnswer:
    """One model's answer for one photo."""

    name: str
    class_names: list[str]
    probabilities: np.ndarray  # float (n_classes,), calibrated
    seen: np.ndarray  # uint8 (S, S, 3): the photo as this model receives it (S = its input size)
    heat: np.ndarray  # float (h, w) in [0, 1] over the shown photo (PhotoResult.view): where it looked
    overlay: np.ndarray  # uint8 (h, w, 3): ``heat`` blended over the shown photo
    method: str  # how ``heat`` was made: "Grad-CAM" or "saliency"
    grids: list[LayerGrid]  # its hidden layers, one picture each
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
    def answer(self) -> str:
        """What the model says: its class, or "neither"."""
        return self.label if self.is_known else "neither"

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())


@dataclass(frozen=True)
class PhotoResult:
    """Every photo model's answer for one photo, and the server time it took in milliseconds."""

    view: np.ndarray  # uint8 (h, w, 3): the photo, shrunk to at most VIEW_SIDE, under the heat maps
    answers: list[PhotoAnswer]
    milliseconds: float

    @property
    def agree(self) -> bool:
        return len({a.answer for a in self.answers}) <= 1

    def verdict(self) -> str:
        """One sentence on the answers, e.g. "All 3 models say dog.", "The models disagree: ..." or "This looks
        like neither a cat nor a dog to the Pet CNN (the Pet MLP says dog, ...)."."""
        if not self.answers:
            return "No model is available."
        refused = [a.name for a in self.answers if not a.is_known]
        if refused and len(refused) == len(self.answers) > 1:
            return f"This looks like neither a cat nor a dog to {'both' if len(refused) == 2 else 'all'} models."
        if refused:
            others = ", ".join(f"the {a.name} says {a.label}" for a in self.answers if a.is_known)
            return f"This looks like neither a cat nor a dog to the {join_names(refused)}" + (
                f" ({others})." if others else ".")
        if self.agree:
            who = "Both models" if len(self.answers) == 2 else f"All {len(self.answers)} models"
            return f"{who} say {self.answers[0].label}." if len(self.answers) > 1 else \
                f"The {self.answers[0].name} says {self.answers[0].label}."
        votes = ", ".join(f"{a.name} says {a.label}" for a in self.answers)
        return f"The models disagree: {votes}."


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


def saliency(clf: Classifier, pixels: np.ndarray, target: int) -> np.ndarray:
    """Input-gradient saliency for one photo: |d log p(target) / d pixel|, largest over the colour channels,
    scaled so the 99th percentile is 1 (one extreme pixel would otherwise make the rest black).
    ``pixels``: float (S, S, 3) in 0..1 -> float32 (S, S) in [0, 1]."""
    grad = np.abs(clf.input_gradient(pixels[None], np.array([target])))[0].max(axis=2)  # (S, S)
    top = float(np.percentile(grad, 99))
    return (np.clip(grad / top, 0, 1) if top > 0 else np.zeros_like(grad)).astype(np.float32)


def stretch(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float heat map (s, s) in [0, 1] -> float32 ``size`` (H, W), bilinear, still in [0, 1]."""
    stretched = Image.fromarray(np.asarray(heat, np.float32), mode="F").resize(size[::-1], Image.BILINEAR)
    return np.clip(np.asarray(stretched, np.float32), 0, 1)


def view_of(photo: np.ndarray) -> np.ndarray:
    """The photo shrunk (aspect kept) so its longer side is at most VIEW_SIDE: uint8 (h, w, 3)."""
    h, w = photo.shape[:2]
    scale = VIEW_SIDE / max(h, w)
    if scale >= 1:
        return photo
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.BILINEAR), np.uint8)


def answer_of(clf: Classifier, photo: np.ndarray, view: np.ndarray) -> PhotoAnswer:
    """One photo model's answer for one uint8 RGB photo (as returned by uploads.load_photo), with its heat
    map over ``view`` (the photo as shown)."""
    pixels = photo_pixels([photo], clf.input_size)  # float (1, S, S, 3): exactly what the network reads
    acts = clf.activations(pixels)  # block<k>: (1, C, h, w) or hidden<k>: (1, n); logits: (1, outputs)
    probs = clf.proba_of(acts["logits"])[0]
    unknown = (float(clf.unknown_score_of(acts["logits"])[0]), clf.unknown_threshold) if clf.has_unknown_output else ()
    # Both maps are made at the model's input size (S, S) and stretched over the shown photo, which is cheaper
    # than at the photo's own size and the same picture: the network saw no finer detail than S x S.
    if hasattr(clf, "gradcam"):
        heat, method = clf.gradcam(pixels[0], int(probs.argmax())), "Grad-CAM"  # for the class it answers
    else:
        heat, method = saliency(clf, pixels[0], int(probs.argmax())), "saliency"
    heat = stretch(heat, view.shape[:2])
    trimmed = {name: a[:, :MAX_MAPS_SHOWN] if a.ndim == 4 else a for name, a in acts.items()}
    # Label each grid with the layer's full shape, e.g. (256, 4, 4), even when only 64 maps are drawn.
    grids = [replace(g, shape=acts[g.name].shape[1:]) for g in activation_grids(trimmed)]
    seen = np.rint(pixels[0] * 255).astype(np.uint8)
    return PhotoAnswer(clf.name, clf.class_names, probs, seen, heat, gradcam_overlay(view, heat), method, grids,
                       *unknown)


def analyse_photo(classifiers: Mapping[str, Classifier], photo: np.ndarray,
                  clock: Clock = time.perf_counter) -> PhotoResult:
    """Every photo model on one uint8 RGB photo: what the photo page shows."""
    start = clock()
    view = view_of(photo)
    answers = [answer_of(clf, photo, view) for clf in classifiers.values()]
    return PhotoResult(view, answers, (clock() - start) * 1000)
