"""Rebuild the bundled samples from the full datasets: ``python -m training.make_samples``.

Writes samples/mnist_sample.npz (the first 50 test digits of each class), samples/mnist_train_subset.npz
(the first 1,000 training digits of each class, shuffled, for the live trainer when the full MNIST is absent)
and copies a few cats-vs-dogs validation photos, unchanged, into samples/pets/.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from models.datasets import load_mnist, resolve_data_dir
from models.samples import DIGIT_SAMPLE, PET_DIR, TRAIN_SUBSET
from training.pet_data import pet_folder

PER_CLASS = 50
TRAIN_PER_CLASS = 1000
# Five clear photos (issue 10 allows at most five from ../shared) among validation ids 10625-10629; cat.10625
# shows a dog (label noise in the set) and is passed over.
PETS = ["cat.10626", "cat.10627", "cat.10629", "dog.10625", "dog.10628"]


def write_train_subset(data_dir: Path) -> None:
    """The first TRAIN_PER_CLASS training digits of each class, in a fixed random order so that any slice
    (the live trainer holds out the last 1,000 for validation) has every class in about equal numbers."""
    images, labels = load_mnist(data_dir, train=True)
    chosen = np.concatenate([np.flatnonzero(labels == d)[:TRAIN_PER_CLASS] for d in range(10)])
    indices = np.random.default_rng(0).permutation(chosen)
    np.savez_compressed(TRAIN_SUBSET, images=images[indices], labels=labels[indices].astype(np.uint8),
                        indices=indices)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", default=None, help="folder holding MNIST/ and cats_vs_dogs/")
    args = p.parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    images, labels = load_mnist(data_dir, train=False)
    indices = np.sort(np.concatenate([np.flatnonzero(labels == d)[:PER_CLASS] for d in range(10)]))
    DIGIT_SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DIGIT_SAMPLE, images=images[indices], labels=labels[indices].astype(np.uint8), indices=indices)
    write_train_subset(data_dir)
    PET_DIR.mkdir(parents=True, exist_ok=True)
    for name in PETS:
        cls = name.split(".")[0]
        shutil.copyfile(pet_folder(data_dir, "val") / cls / f"{name}.jpg", PET_DIR / f"{name}.jpg")
    print(f"wrote {DIGIT_SAMPLE} ({len(indices)} digits), {TRAIN_SUBSET} and {len(PETS)} photos in {PET_DIR}")


if __name__ == "__main__":
    main()
