"""How a photo model does on photos from outside its data sets (issue 26's figures): the cat and dog photos
of ``pets_outside_dev/`` (other sources than Kaggle; for measuring only) and the everyday photos of
``not_pets_everyday/`` (sports scenes, groceries, clothing), all of them and the categories kept for test.

Every figure is at the model's own threshold and temperature, exactly as the app answers. Only this module
reads ``pets_outside_dev/`` (tests/test_lint.py checks it): no training, threshold or temperature sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.calibration import expected_calibration_error
from models.classifiers import Classifier
from models.datasets import DataNotFoundError
from models.preprocessing import NEUTRAL_GREY, resize_photo
from training.cache import cached, parallel_map
from training.pet_data import PET_CLASSES, decoded, load_not_pets, not_pet_files
from training.report import unknown_report
from uploads import decode_photo

EVERYDAY = "not_pets_everyday"
ASPECTS = ("stretch", "crop", "letterbox")  # how a photo that is not square is made square (the app stretches)


def squared(image: np.ndarray, aspect: str) -> np.ndarray:
    """An (H, W, 3) photo for the model, which stretches what it gets to its square: as it is ("stretch"), its
    centre square ("crop"), or on a grey square ("letterbox")."""
    h, w = image.shape[:2]
    if aspect == "crop":
        side = min(h, w)
        return image[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    if aspect == "letterbox":
        side = max(h, w)
        square = np.full((side, side, 3), NEUTRAL_GREY, np.uint8)
        square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = image
        return square
    return image


def decode_squared(path: str, side: int, aspect: str) -> np.ndarray:
    """One file -> uint8 (side, side, 3), made square by ``aspect`` before the app's resize."""
    return resize_photo(squared(decode_photo(Path(path).read_bytes()), aspect), side)


def outside_pets(data_dir: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """The cat and dog photos from outside Kaggle (``pets_outside_dev/{cat,dog}/<source>_<n>.jpg``): files,
    labels (cat=0, dog=1) and each photo's source. For measuring only: never for training or thresholds."""
    root = Path(data_dir) / "pets_outside_dev"
    files = [(str(f), label) for label, cls in enumerate(PET_CLASSES) for f in sorted((root / cls).glob("*.jpg"))]
    if not files:
        raise DataNotFoundError(f"no photos in {root.resolve()}: expected pets_outside_dev/{{cat,dog}}/*.jpg")
    return [f for f, _ in files], np.array([y for _, y in files]), [Path(f).name.split("_")[0] for f, _ in files]


def outside_report(clf: Classifier, data_dir: Path, logits_of: Callable[[np.ndarray], np.ndarray],
                   aspect: str = "stretch") -> dict[str, Any]:
    """{"pets": accuracy (overall and by source), ECE and share refused as "neither" on pets_outside_dev;
    "everyday": "neither" caught on all everyday photos and on the test categories, and the AUROC of outside
    pets against the everyday test categories}. ``logits_of(photos)``: the model's outputs, (N, outputs);
    ``aspect``: how the outside photos, most of them not square, are made square (ASPECTS)."""
    side = clf.input_size
    files, labels, sources = outside_pets(data_dir)
    if aspect == "stretch":  # as training/pet_data.py decodes every photo, and the app an upload
        photos = decoded(f"pets-outside-{side}-{len(files)}", files, side)
    else:
        photos = cached(f"pets-outside-{aspect}-{side}-{len(files)}", (files, side, aspect), lambda: np.stack(
            parallel_map(decode_squared, files, [side] * len(files), [aspect] * len(files))))
    logits = logits_of(photos)
    probs = clf.proba_of(logits)
    right = probs.argmax(axis=1) == labels
    pets: dict[str, Any] = {
        "n": len(labels),
        "aspect": aspect,
        "accuracy": float(right.mean()),
        "accuracy_by_source": {s: float(right[np.array(sources) == s].mean()) for s in sorted(set(sources))},
        "ece": expected_calibration_error(probs, labels),
    }
    if not clf.has_unknown_output:
        return {"pets": pets}
    every = logits_of(load_not_pets(data_dir, "all", side, folder=EVERYDAY))  # the test categories are among them
    kept = set(not_pet_files(data_dir, "test", EVERYDAY))
    everyday = {"all": every, "test": every[[f in kept for f in not_pet_files(data_dir, "all", EVERYDAY)]]}
    held_out = unknown_report(clf, logits, {"everyday test categories": everyday["test"]}, "pets_outside_dev")
    pets["refused"] = held_out["known_refused"]
    caught = {split: float((clf.unknown_score_of(z) > clf.unknown_threshold).mean()) for split, z in everyday.items()}
    return {"pets": pets, "everyday": {"n": {split: len(z) for split, z in everyday.items()}, "caught": caught,
                                       "auroc_outside_pets": held_out["auroc"]}}


def format_outside(report: dict[str, Any]) -> str:
    """The outside figures as a few lines of text."""
    pets = report["pets"]
    by_source = ", ".join(f"{s} {a:.1%}" for s, a in pets["accuracy_by_source"].items())
    lines = [f"\noutside Kaggle ({pets['n']} cat and dog photos of pets_outside_dev, {pets['aspect']}): accuracy "
             f"{pets['accuracy']:.2%} ({by_source}), ECE {pets['ece']:.2%}"]
    if "everyday" in report:
        everyday = report["everyday"]
        lines.append(f"  refused as neither: {pets['refused']:.2%}; everyday photos caught as neither: "
                     f"{everyday['caught']['all']:.1%} of all {everyday['n']['all']}, {everyday['caught']['test']:.1%} "
                     f"of the {everyday['n']['test']} in test categories; AUROC outside pets vs those: "
                     + ", ".join(f"{m} {a:.4f}" for m, a in everyday["auroc_outside_pets"].items()))
    return "\n".join(lines)
