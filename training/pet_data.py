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

from pathlib import Path

import numpy as np

from models.datasets import DATA_ENV, DataNotFoundError
from models.preprocessing import resize_photo
from training.cache import cached, parallel_map
from uploads import load_photo

PET_CLASSES = ["cat", "dog"]


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


def not_pet_files(data_dir: Path, split: str) -> list[str]:
    """The non-pet photos of ``split`` ("train", "val" or "test"), sorted."""
    root = Path(data_dir) / "not_pets"
    categories = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not categories:
        raise DataNotFoundError(f"no photos in {root.resolve()}: expected not_pets/<category>/*.jpg; point "
                                f"--data-dir or ${DATA_ENV} at the folder that holds not_pets/.")
    share = {1: "val", 3: "test"}
    chosen = [c for i, c in enumerate(categories) if share.get(i % 5, "train") == split]
    return sorted(str(f) for c in chosen for f in c.glob("*.jpg"))


def load_not_pets(data_dir: Path, split: str, side: int, limit: int | None = None) -> np.ndarray:
    """The non-pet photos of ``split`` as uint8 (N, side, side, 3), decoded once and cached."""
    files = not_pet_files(data_dir, split)[:limit]
    return cached(f"not-pets-{split}-{side}-{len(files)}", (files, side),
                  lambda: np.stack(parallel_map(decode, files, [side] * len(files))))


def decode(path: str, side: int) -> np.ndarray:
    """One file -> uint8 (side, side, 3), decoded by load_photo exactly as the app decodes an upload of it.

    In this process (``sandbox=False``, the same decoder the app's sandboxed workers run): the datasets are
    our own files, and ``decode`` runs inside ``parallel_map``'s forked workers, where starting the upload
    sandbox's spawned worker pool hangs.
    """
    return resize_photo(load_photo(Path(path).read_bytes(), sandbox=False), side)


def load_pet_split(data_dir: Path, split: str, side: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, side, side, 3), labels int64 (N,)) of a split, decoded once and cached."""
    files, labels = list_images(data_dir, split, limit)
    images = cached(f"pets-{split}-{side}-{len(files)}", (files, side),
                    lambda: np.stack(parallel_map(decode, files, [side] * len(files))))
    return images, labels
