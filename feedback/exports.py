"""Writers for exported drawings: MNIST IDX files and an ImageFolder tree of PNGs.

Both take plain (id, 28x28 uint8 image, label) triples, so they know nothing of the database.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from feedback.records import LABEL_NAMES

IDX_IMAGES, IDX_LABELS = 0x803, 0x801  # IDX magic numbers: unsigned bytes, 3 or 1 dimensions
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_idx(folder: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write images (N, 28, 28) uint8 and labels (N,) 0..9 as ``<folder>/MNIST/raw/*-idx?-ubyte``.

    The same drawings go into both the train and the t10k pair: torchvision.datasets.MNIST needs all four
    files, and which drawings to hold out is the caller's choice. Returns the raw folder.
    """
    raw = Path(folder, "MNIST", "raw")
    raw.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    image_bytes = struct.pack(">IIII", IDX_IMAGES, n, 28, 28) + images.astype(np.uint8).tobytes()
    label_bytes = struct.pack(">II", IDX_LABELS, n) + labels.astype(np.uint8).tobytes()
    for name in IDX_FILES:
        (raw / name).write_bytes(image_bytes if "images" in name else label_bytes)
    return raw


def write_imagefolder(folder: str | Path, drawings: Iterable[tuple[int, np.ndarray, int]]) -> int:
    """Write each drawing as ``<folder>/<label name>/<id>.png`` (label names "0".."9", "not_a_digit").

    Only labels that occur get a folder, since torchvision's ImageFolder refuses empty class folders.
    Returns the number of PNGs written.
    """
    count = 0
    for drawing_id, image, label in drawings:
        target = Path(folder, LABEL_NAMES[label])
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target / f"{drawing_id}.png")
        count += 1
    return count
