"""Cats vs dogs for training, and photos that are neither: folders of photos decoded once into cached arrays.

Layout: ``<data-dir>/cats_vs_dogs/{train,val,test}/{cat,dog}/*.jpg`` (any image sizes and formats PIL reads)
and ``<data-dir>/not_pets/<category>/*.jpg`` (Caltech-101 photos of 93 categories that are neither). The
non-pet categories are split by name, never by photo, so "neither" is measured on kinds of things no
training or threshold saw: sorted, every fifth category from the second on is validation, every fifth from
the fourth on is test, the rest train.
Decoding 21,000 JPEGs every epoch would cost about as much CPU as training on 2 cores, so each split is
decoded once (in parallel), resized with the app's own ``resize_photo`` and cached (training/cache.py);
later epochs and runs read the cache (memory-mapped).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import DATA_ENV, DataNotFoundError
from models.preprocessing import resize_photo
from models.registry import BY_KEY
from training.cache import cached, parallel_map
from training.calibrate import calibrate
from uploads import decode_photo

PET_CLASSES = ["cat", "dog"]
NEITHER = len(PET_CLASSES)  # the unknown output's label
UNKNOWN_COPIES = 2  # the non-pet training photos are few (about 1,700): each is shown twice per epoch
REFUSE_RATE = 0.01  # threshold: about 1% of real cat and dog photos may be called "neither"
MEAN = (0.485, 0.456, 0.406)  # ImageNet channel statistics: a fine standardisation for any photo set
STD = (0.229, 0.224, 0.225)


def pet_folder(data_dir: Path, split: str) -> Path:
    return Path(data_dir) / "cats_vs_dogs" / split


def list_images(data_dir: Path, split: str, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """Files and labels (cat=0, dog=1) of a split, sorted; with ``limit``, the first limit/2 of each class."""
    from torchvision.datasets import ImageFolder

    root = pet_folder(data_dir, split)
    try:
        ds = ImageFolder(str(root))
    except (FileNotFoundError, OSError) as e:
        raise DataNotFoundError(
            f"no cats-vs-dogs images in {root.resolve()} ({e}). Expected <data-dir>/cats_vs_dogs/{split}/cat/*.jpg "
            f"and .../dog/*.jpg; point --data-dir or ${DATA_ENV} at the folder that holds cats_vs_dogs/ "
            "(see README for where to get the photos)."
        ) from None
    if ds.classes != PET_CLASSES:
        raise DataNotFoundError(f"{root}: expected class folders {PET_CLASSES}, found {ds.classes}")
    files = [p for p, _ in ds.samples]
    labels = np.array(ds.targets, np.int64)
    if limit:
        keep = np.concatenate([np.flatnonzero(labels == c)[: (limit + 1) // 2] for c in range(len(PET_CLASSES))])
        files, labels = [files[i] for i in keep], labels[keep]
    return files, labels


def not_pet_files(data_dir: Path, split: str, folder: str = "not_pets") -> list[str]:
    """The non-pet photos of ``split`` ("train", "val", "test", or "all" of them) in ``folder`` (``not_pets``:
    Caltech-101; ``not_pets_everyday``: sports scenes, groceries, clothing), sorted."""
    root = Path(data_dir) / folder
    categories = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not categories:
        raise DataNotFoundError(f"no photos in {root.resolve()}: expected {folder}/<category>/*.jpg; point "
                                f"--data-dir or ${DATA_ENV} at the folder that holds {folder}/.")
    share = {1: "val", 3: "test"}
    chosen = [c for i, c in enumerate(categories) if split in ("all", share.get(i % 5, "train"))]
    return sorted(str(f) for c in chosen for f in c.glob("*.jpg"))


def load_not_pets(data_dir: Path, split: str, side: int, limit: int | None = None,
                  folder: str = "not_pets") -> np.ndarray:
    """The non-pet photos of ``split`` in ``folder`` as uint8 (N, side, side, 3), decoded once and cached."""
    files = not_pet_files(data_dir, split, folder)[:limit]
    name = "not-pets" if folder == "not_pets" else folder.replace("_", "-")
    return decoded(f"{name}-{split}-{side}-{len(files)}", files, side)


def decoded(name: str, files: list[str], side: int) -> np.ndarray:
    """``files`` decoded and stretched to uint8 (N, side, side, 3), cached under ``name``."""
    return cached(name, (files, side), lambda: np.stack(parallel_map(decode, files, [side] * len(files))))


def decode(path: str, side: int) -> np.ndarray:
    """One file -> uint8 (side, side, 3), decoded by the app's decoder (``decode_photo``, what an upload's worker
    runs: the same bytes give the same pixels) in this process, since the data set is trusted."""
    return resize_photo(decode_photo(Path(path).read_bytes()), side)


def load_pet_split(data_dir: Path, split: str, side: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, side, side, 3), labels int64 (N,)) of a split, decoded once and cached."""
    files, labels = list_images(data_dir, split, limit)
    return decoded(f"pets-{split}-{side}-{len(files)}", files, side), labels


@dataclass(frozen=True)
class PetData:
    """What a photo model trains and is calibrated on, every photo uint8 (N, side, side, 3).

    train: photos with labels 0 cat, 1 dog and, with unknowns, NEITHER for the non-pet photos (each
    UNKNOWN_COPIES times); val: the validation cats and dogs; val_unknown: validation photos of other things.
    """

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    val_unknown: np.ndarray | None

    @property
    def train_images(self) -> int:
        return int((self.train[1] != NEITHER).sum())

    @property
    def unknown_images(self) -> int:
        return int((self.train[1] == NEITHER).sum()) // UNKNOWN_COPIES

    def summary(self, side: int) -> str:
        return (f"data: {self.train_images} training photos of cats and dogs, {self.unknown_images} of other things "
                f"(each shown {UNKNOWN_COPIES}x), {len(self.val[1])} val at {side}px")


def load_pet_data(data_dir: Path, side: int, limit: int | None, unknowns: bool, everyday: bool = False) -> PetData:
    """The training and validation photos at ``side`` pixels (see PetData); raises DataNotFoundError. The photos
    of other things are Caltech-101's (``not_pets``), and with ``everyday`` also the everyday photos'
    (``not_pets_everyday``), each split by category the same way."""
    x_train, y_train = load_pet_split(data_dir, "train", side, limit)
    val = load_pet_split(data_dir, "val", side, limit)
    if not unknowns:
        return PetData((x_train, y_train), val, None)
    folders = ["not_pets", "not_pets_everyday"] if everyday else ["not_pets"]
    others = np.concatenate([load_not_pets(data_dir, "train", side, limit, folder) for folder in folders])
    x_train = np.concatenate([x_train, *[others] * UNKNOWN_COPIES])
    y_train = np.concatenate([y_train, np.full(len(others) * UNKNOWN_COPIES, NEITHER)])
    val_unknown = np.concatenate([load_not_pets(data_dir, "val", side, limit, folder) for folder in folders])
    return PetData((x_train, y_train), val, val_unknown)


def calibrate_pets(logits: Callable[[np.ndarray], np.ndarray], data: PetData) -> dict:
    """The "calibration" and "unknown" meta of a photo model from its ``logits(photos)`` on the validation sets."""
    return calibrate(logits(data.val[0]), data.val[1], logits(data.val_unknown), NEITHER,
                     "cats-vs-dogs validation photos", "validation photos of other things", REFUSE_RATE)


def add_pet_data_args(p: argparse.ArgumentParser, side: int) -> None:
    """The flags every photo trainer has: the side of the photo its network reads, and "neither"."""
    p.add_argument("--image-size", type=int, default=side,
                   help=f"side of the square photo the network reads (default {side})")
    p.add_argument("--unknowns", action=argparse.BooleanOptionalAction, default=True,
                   help="train a 'neither' output on photos that are neither cats nor dogs (default on)")


def pet_meta(key: str, architecture: str, config: Any, seed: int, training: dict, metrics: dict) -> dict[str, Any]:
    """A photo model's checkpoint meta, as ``models.load_classifier`` reads it: its key and name, architecture,
    config (a frozen dataclass), classes, pixel standardisation, seed, training settings and metrics."""
    return {"model_type": key, "display_name": BY_KEY[key].name, "architecture": architecture,
            "config": asdict(config), "class_names": PET_CLASSES,
            "normalization": {"mean": list(MEAN), "std": list(STD)}, "seed": seed, "training": training,
            "metrics": metrics}
