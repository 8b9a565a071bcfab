"""Rebuild the bundled samples from the full datasets: ``python -m training.make_samples``.

Writes samples/mnist_sample.npz (the first 50 test digits of each class) and copies a few cats-vs-dogs
validation photos, unchanged, into samples/pets/.
"""

from __future__ import annotations

import argparse
import shutil

import numpy as np

from models.datasets import load_mnist, resolve_data_dir
from models.samples import DIGIT_SAMPLE, PET_DIR
from training.pet_data import pet_folder

PER_CLASS = 50
# Validation ids 10625-10632, minus cat.10625, cat.10630 (cat.10625 shows a dog: label noise in the set),
# dog.10627 and dog.10629, to keep five clear photos of each class.
PETS = ["cat.10626", "cat.10627", "cat.10628", "cat.10629", "cat.10631",
        "dog.10625", "dog.10626", "dog.10628", "dog.10630", "dog.10632"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", default=None, help="folder holding MNIST/ and cats_vs_dogs/")
    args = p.parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    images, labels = load_mnist(data_dir, train=False)
    indices = np.sort(np.concatenate([np.flatnonzero(labels == d)[:PER_CLASS] for d in range(10)]))
    DIGIT_SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DIGIT_SAMPLE, images=images[indices], labels=labels[indices].astype(np.uint8), indices=indices)
    PET_DIR.mkdir(parents=True, exist_ok=True)
    for name in PETS:
        cls = name.split(".")[0]
        shutil.copyfile(pet_folder(data_dir, "val") / cls / f"{name}.jpg", PET_DIR / f"{name}.jpg")
    print(f"wrote {DIGIT_SAMPLE} ({len(indices)} digits) and {len(PETS)} photos in {PET_DIR}")


if __name__ == "__main__":
    main()
