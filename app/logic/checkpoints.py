"""Where the app's checkpoints live, and loading them without letting one failure spread (the models
themselves are listed once, in ``models.registry``).

The checkpoint folder is ``checkpoints/`` unless ``$PLAYGROUND_CHECKPOINT_DIR`` names another one (used
by the tests to show the app with a missing or a stand-in checkpoint).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.logic.activations import activation_grids
from models import CheckpointError, load_classifier
from models.classifiers import DIGIT_CLASSES, Classifier
from models.registry import ModelInfo, models_for

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_ENV = "PLAYGROUND_CHECKPOINT_DIR"


DIGIT_MODELS: tuple[ModelInfo, ...] = models_for("digits")
PET_MODELS: tuple[ModelInfo, ...] = models_for("pets")


def checkpoint_dir() -> Path:
    """$PLAYGROUND_CHECKPOINT_DIR if set, else the repository's checkpoints/ folder."""
    return Path(os.environ.get(CHECKPOINT_ENV) or ROOT / "checkpoints")


def checkpoint_path(spec: ModelInfo) -> Path:
    return checkpoint_dir() / spec.filename


def checkpoint_stamp(path: Path) -> float:
    """Modification time of a checkpoint, -1 when missing: part of the app's cache key, so a checkpoint
    that appears (or is retrained) while the app runs is picked up without a restart."""
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


@dataclass(frozen=True)
class LoadedModel:
    """A loaded classifier, or the reason it could not be loaded (then ``classifier`` is None)."""

    spec: ModelInfo
    path: Path
    classifier: Classifier | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.classifier is not None

    def problem(self) -> str:
        """A message for users: what went wrong and the command that (re)creates the checkpoint."""
        what = "is missing" if not self.path.exists() else "could not be loaded"
        return (
            f"The {self.spec.key} checkpoint {what} ({self.error}). "
            f"Train it with `{self.spec.train_command}` and reload this page."
        )


def load_model(spec: ModelInfo, path: Path | None = None) -> LoadedModel:
    """Load one model and check it answers; a missing, broken or hostile checkpoint becomes a LoadedModel
    with an error, never an exception, so the other models and every page keep working."""
    path = checkpoint_path(spec) if path is None else Path(path)
    try:
        clf = load_classifier(path)
        warm_up(clf)
    except (CheckpointError, OSError) as e:
        return LoadedModel(spec, path, None, str(e))
    except Exception as e:  # noqa: BLE001 - a bug or an unforeseen file must cost one model, not the app
        return LoadedModel(spec, path, None, f"{path}: could not be loaded ({type(e).__name__}: {e})")
    return LoadedModel(spec, path, clf)


def warm_up(clf: Classifier) -> None:
    """Run one throw-away prediction so the first user does not pay for lazy imports and first-call set-up
    (about 100 ms for the torch models otherwise, against ~1 ms afterwards). Raises CheckpointError when
    the model answers NaN or infinity (weights or statistics that load but cannot work)."""
    if clf.class_names == DIGIT_CLASSES:
        blank = np.zeros((1, 28, 28), np.uint8)
        activations = clf.activations(blank)
    else:
        blank = np.zeros((1, clf.input_size, clf.input_size, 3), np.uint8)  # the photo as the model reads it
        activations = clf.activations([np.zeros((64, 64, 3), np.uint8)])
    if not np.isfinite(activations["logits"]).all():
        raise CheckpointError(f"{clf.meta.get('checkpoint', {}).get('path', clf.name)}: the model answers NaN or "
                              "infinity on a blank input")
    activation_grids(activations)  # the pages draw every layer: its first call imports matplotlib's colour maps
    # The pages' saliency maps and Grad-CAM: a first backward pass imports ~500 modules (torch's symbolic shapes,
    # sympy; ~1 s), which the first visitor to open "Inside the networks" would otherwise wait for.
    if hasattr(clf, "gradcam"):
        clf.gradcam(blank[0], 0)
    else:
        clf.input_gradient(blank, np.zeros(1, np.int64))


def shared_model(spec: ModelInfo) -> LoadedModel:
    """The model every session of this server shares: loaded once per checkpoint file and modification time
    (so a checkpoint retrained while the app runs is picked up without a restart). Held in a plain
    ``functools.lru_cache``, where Streamlit's "Clear cache" cannot reach it."""
    path = checkpoint_path(spec)
    return _load_once(spec, path, checkpoint_stamp(path))


@functools.lru_cache(maxsize=16)
def _load_once(spec: ModelInfo, path: Path, stamp: float) -> LoadedModel:
    return load_model(spec, path)  # ``stamp`` is only part of the cache key
