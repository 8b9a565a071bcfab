"""Drawings that are not digits, split for training, choosing thresholds, and measuring "not a digit".

Sources (``<data-dir>/not_digits/``, see its SOURCE.md): notMNIST's printed letters A-J and the handwritten
characters of Omniglot's eight background alphabets; plus our own doodles and scripted shapes
(training/strokes.py). Every item is drawn on a canvas like a visitor's drawing and preprocessed by
``preprocess_drawing``, so the models learn from (and are measured on) what the app really shows them.

Splits never share an alphabet, a letter or a kind of drawing:

| split | Omniglot alphabets | notMNIST letters | drawings |
|---|---|---|---|
| train (outlier exposure) | Latin, Korean, Katakana, Sanskrit, Balinese | A-F | doodles |
| val (thresholds only) | Early Aramaic | G, H | doodles (other seeds) |
| test (measured once) | Greek, Tagalog | J | stars, hearts, houses, smileys... |

Characters a person would read as a digit are left out of every split (``DIGIT_LIKE``: Latin l, O, q, S,
g, Z; Greek iota and omicron; Korean ㅣ, ㄱ, ㅇ; the Tagalog and Sanskrit characters shaped like 3; ...),
and so is notMNIST's I, which in most fonts is a bare vertical bar: a 1.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from models.datasets import DATA_ENV, DataNotFoundError
from models.preprocessing import preprocess_drawing
from training.strokes import SHAPES, doodle, redraw, shape

OMNIGLOT = {
    "train": ("Latin", "Korean", "Japanese_(katakana)", "Sanskrit", "Balinese"),
    "val": ("Early_Aramaic",),
    "test": ("Greek", "Tagalog"),
}
NOTMNIST = {"train": "ABCDEF", "val": "GH", "test": "J"}
DOODLES_PER_SPLIT = {"train": 8000, "val": 1000, "test": 0}
SHAPES_PER_KIND = {"train": 0, "val": 0, "test": 100}
# (alphabet, character number) of Omniglot characters that look like a digit (judged by eye on the data).
DIGIT_LIKE = {
    ("Latin", 7), ("Latin", 12), ("Latin", 15), ("Latin", 17), ("Latin", 19), ("Latin", 26),  # g l O q S Z
    ("Greek", 9), ("Greek", 15),  # iota, omicron
    ("Korean", 20), ("Korean", 21), ("Korean", 33),  # ㅣ ㄱ ㅇ
    ("Japanese_(katakana)", 24), ("Japanese_(katakana)", 27),  # ノ フ
    ("Sanskrit", 37), ("Tagalog", 3),  # both shaped like a 3
    ("Balinese", 6),  # a 7
    ("Early_Aramaic", 3), ("Early_Aramaic", 4), ("Early_Aramaic", 7), ("Early_Aramaic", 12),  # 7 4 1 6
    ("Early_Aramaic", 14), ("Early_Aramaic", 16), ("Early_Aramaic", 17), ("Early_Aramaic", 20),  # 9 0 7 4
}
SEEDS = {"train": 0, "val": 1, "test": 2}


def _folder(data_dir: Path) -> Path:
    folder = Path(data_dir) / "not_digits"
    if not (folder / "notmnist").is_dir() or not (folder / "omniglot").is_dir():
        raise DataNotFoundError(
            f"no non-digit glyphs in {folder.resolve()}: expected notmnist/*.gz and omniglot/*.zip there "
            f"(see its SOURCE.md); point --data-dir or ${DATA_ENV} at the folder that holds not_digits/."
        )
    return folder


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file (MNIST's format: magic, big-endian uint32 sizes, then uint8 data) as an array."""
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def notmnist_letters(data_dir: Path, letters: str) -> np.ndarray:
    """notMNIST's printed letters among ``letters`` (A-J): uint8 (N, 28, 28), white on black."""
    folder = _folder(data_dir) / "notmnist"
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    keep = np.isin(labels, [ord(c) - ord("A") for c in letters])
    return images[keep]


def omniglot_characters(data_dir: Path, alphabets: tuple[str, ...]) -> np.ndarray:
    """Every drawing of the given alphabets, digit-like characters left out: uint8 (N, 105, 105), white on
    black. Greek and Latin are in both zips: each file is read once."""
    seen: dict[tuple[str, str, str], bytes] = {}
    for zip_path in sorted((_folder(data_dir) / "omniglot").glob("*.zip")):
        with zipfile.ZipFile(zip_path) as z:
            for name in z.namelist():
                parts = name.split("/")
                if not name.endswith(".png") or len(parts) != 4 or parts[1] not in alphabets:
                    continue
                alphabet, character, file = parts[1:]
                if (alphabet, int(character.removeprefix("character"))) not in DIGIT_LIKE:
                    seen.setdefault((alphabet, character, file), z.read(name))
    glyphs = [255 - np.asarray(Image.open(io.BytesIO(data)).convert("L")) for _, data in sorted(seen.items())]
    return np.stack(glyphs) if glyphs else np.zeros((0, 105, 105), np.uint8)


def turned(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` copies of non-digit drawings (uint8 (N, 28, 28)) turned a quarter, a half or three quarters,
    or mirrored left-right or upside-down, drawn at random without repeats (at most 5 N).

    A turned letter or doodle is still not a digit, so these widen what "not a digit" covers without ever
    labelling a digit wrong (a turned *digit* could be one: a 6 is a 9 upside-down, and none is made here).
    """
    copies = [np.rot90(images, k, axes=(1, 2)) for k in (1, 2, 3)] + [images[:, :, ::-1], images[:, ::-1, :]]
    pool = np.concatenate(copies)  # (5 N, 28, 28)
    pick = np.random.default_rng(seed).permutation(len(pool))[:count]
    return np.ascontiguousarray(pool[np.sort(pick)])


def not_digits(data_dir: Path, split: str, limit: int | None = None) -> dict[str, np.ndarray]:
    """The ``split`` ("train", "val" or "test") as {source: uint8 (N, 28, 28) drawings}, each preprocessed
    like a canvas drawing, at most ``limit`` per source. Seeded: a split always gives the same pictures."""
    seed = SEEDS[split]
    rng = np.random.default_rng(seed)
    # Omniglot's pen is thin for its 105 px field: draw it large and with a wider pen, like a canvas stroke.
    omniglot = omniglot_characters(data_dir, OMNIGLOT[split])[:limit]
    sets = {
        "omniglot": redraw(omniglot, seed, sizes=(220, 260), strokes=(9, 13, 17)),
        "notmnist": redraw(notmnist_letters(data_dir, NOTMNIST[split])[:limit], seed),
    }
    doodles = min(DOODLES_PER_SPLIT[split], limit or DOODLES_PER_SPLIT[split])
    if doodles:
        sets["doodles"] = np.stack([preprocess_drawing(doodle(rng)) for _ in range(doodles)])
    per_kind = min(SHAPES_PER_KIND[split], limit or SHAPES_PER_KIND[split])
    for kind in SHAPES if per_kind else ():
        sets[kind] = np.stack([preprocess_drawing(shape(kind, rng)) for _ in range(per_kind)])
    return {name: images[images.reshape(len(images), -1).max(axis=1) > 0] for name, images in sets.items()}
