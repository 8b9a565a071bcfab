"""Cats vs dogs for training: an ImageFolder tree decoded once into a cached uint8 array.

Layout: ``<data-dir>/cats_vs_dogs/{train,val}/{cat,dog}/*.jpg`` (any image sizes and formats PIL reads).
Decoding 12,000 JPEGs every epoch would cost about as much CPU as training on 2 cores, so each split is
decoded once (in parallel), resized with the app's own ``resize_photo`` and cached as .npy under
``.cache/``; later epochs and runs read the cache (memory-mapped).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from models.datasets import DATA_ENV, DataNotFoundError
from models.preprocessing import load_photo, resize_photo

PET_CLASSES = ["cat", "dog"]
CACHE_DIR = Path(os.environ.get("PLAYGROUND_CACHE_DIR", ".cache"))


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


def decode(path: str, side: int) -> np.ndarray:
    """One file -> uint8 (side, side, 3), decoded by load_photo exactly as the app decodes an upload of it."""
    return resize_photo(load_photo(Path(path).read_bytes()), side)


def load_pet_split(
    data_dir: Path, split: str, side: int, limit: int | None = None, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, side, side, 3), labels int64 (N,)) of a split, decoded once and cached."""
    files, labels = list_images(data_dir, split, limit)
    key = hashlib.sha256("\n".join(files).encode() + f"|{side}".encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"pets-{split}-{side}-{len(files)}-{key}.npy"
    if cache.exists():
        return np.load(cache, mmap_mode="r", allow_pickle=False), labels
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    with ProcessPoolExecutor(workers) as pool:
        images = np.stack(list(pool.map(decode, files, [side] * len(files), chunksize=64)))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, images, allow_pickle=False)
    os.replace(tmp, cache)
    return images, labels
