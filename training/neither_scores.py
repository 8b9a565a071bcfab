"""Which "neither" score separates best, chosen on validation data: ``python -m training.neither_scores <ckpt>``.

For a photo CNN with a "neither" output, compares on the same photos (higher = less like a cat or a dog):
- ``unknown``: the log-odds of the "neither" output against cat and dog (what the app uses);
- ``energy``: -logsumexp of the cat and dog logits (Liu et al., 2020); ``msp``: 1 - the top calibrated
  probability (Hendrycks & Gimpel, 2017);
- ``distance``: the Mahalanobis distance of the photo's pooled features (the last block, averaged over
  space: (N, C)) to the nearer of the cat and dog means, with one shared covariance, fitted on training photos
  (Lee et al., 2018);
- ``unknown+distance``: both, each standardised by its mean and spread on the validation cats and dogs;
- ``unknown, flipped too``: the "neither" log-odds of the logits averaged over the photo and its mirror image.
Each is measured on the validation cats and dogs against the validation photos of other things (Caltech-101
and everyday categories), and against the categories kept for test, which no training or threshold saw;
"caught" is at the threshold that refuses 1% of the validation cats and dogs. The Kaggle test photos and the
cat and dog photos from outside Kaggle are not read here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models import load_classifier
from models.datasets import resolve_data_dir
from models.metrics import auroc, threshold_for_refusal_rate
from training.pet_data import REFUSE_RATE, load_not_pets, load_pet_split
from training.report import scores

FOLDERS = ("not_pets", "not_pets_everyday")


def features_and_logits(clf, photos: np.ndarray, flip: bool = False, batch: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Pooled last-block features (N, C) and logits (N, outputs) of uint8 photos (N, S, S, 3)."""
    feats, logits = [], []
    for s in range(0, len(photos), batch):
        x = photos[s : s + batch]
        acts = clf.activations(x[:, :, ::-1] if flip else x)
        feats.append(acts[[k for k in acts if k != "logits"][-1]].mean(axis=(2, 3)))
        logits.append(acts["logits"])
    return np.concatenate(feats).astype(np.float64), np.concatenate(logits).astype(np.float64)


def fit_distance(features: np.ndarray, labels: np.ndarray, shrink: float = 1e-3):
    """Class means and the shared covariance's inverse from training features -> distance(features) (N,)."""
    means = np.stack([features[labels == c].mean(axis=0) for c in np.unique(labels)])  # (K, C)
    centred = features - means[labels]
    cov = centred.T @ centred / len(features)
    precision = np.linalg.inv(cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov)))

    def distance(f: np.ndarray) -> np.ndarray:
        d = f[:, None, :] - means[None]  # (N, K, C)
        return np.einsum("nkc,cd,nkd->nk", d, precision, d).min(axis=1)

    return distance


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a photo CNN checkpoint with a 'neither' output")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with cats_vs_dogs/ and the non-pet folders")
    p.add_argument("--fit-every", type=int, default=4,
                   help="fit the feature distance on every n-th training photo (default 4)")
    args = p.parse_args(argv)
    clf = load_classifier(args.checkpoint)
    data_dir, side = resolve_data_dir(args.data_dir), clf.input_size
    x_train, y_train = load_pet_split(data_dir, "train", side)
    distance = fit_distance(features_and_logits(clf, x_train[:: args.fit_every])[0], y_train[:: args.fit_every])
    sets = {"val pets": load_pet_split(data_dir, "val", side)[0],
            "val others": np.concatenate([load_not_pets(data_dir, "val", side, folder=f) for f in FOLDERS]),
            "held-out others": np.concatenate([load_not_pets(data_dir, "test", side, folder=f) for f in FOLDERS])}
    table: dict[str, dict[str, np.ndarray]] = {}
    for name, photos in sets.items():
        f, z = features_and_logits(clf, photos)
        # A model that already averages over the mirror image (CNNConfig.flip_average) gives the same logits
        # for the mirror image: no second pass.
        z_flip = z if clf.model.config.flip_average else features_and_logits(clf, photos, flip=True)[1]
        table[name] = scores(clf, z) | {"distance": distance(f),
                                        "unknown, flipped too": clf.unknown_score_of((z + z_flip) / 2)}
    known = table["val pets"]
    both = ("unknown", "distance")
    for t in table.values():
        t["unknown+distance"] = sum((t[m] - known[m].mean()) / known[m].std() for m in both)
    print(f"{args.checkpoint}: {len(sets['val pets'])} val pets, {len(sets['val others'])} val others, "
          f"{len(sets['held-out others'])} others of held-out categories; caught: at {REFUSE_RATE:.0%} of val pets "
          "refused")
    print("| score | val AUROC | val caught | held-out AUROC | held-out caught |\n|---|---:|---:|---:|---:|")
    for m in known:
        threshold = threshold_for_refusal_rate(known[m], REFUSE_RATE)
        cells = [f"{auroc(known[m], table[s][m]):.4f} | {(table[s][m] > threshold).mean():.1%}"
                 for s in ("val others", "held-out others")]
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
