"""How accuracy falls as digits are bent or attacked: ``python -m training.robustness <checkpoint> [...]``.

For each digit checkpoint: accuracy on the 10,000 MNIST test digits against rotation, shift, stroke thickness
and Gaussian noise (models/perturb.py), and against the attack size eps of FGSM and 10-step PGD
(models/attacks.py). The attack curves use the first --attack-limit digits (default 1,000, recorded as each
curve's "n"): PGD costs 10 gradients per digit and eps. ``--save`` writes ``<stem>.robustness.json`` beside each
checkpoint, with its sha256 so a report older than its checkpoint can be told apart; the app reads these files
and never computes them itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models import CheckpointError, load_classifier, perturb
from models.artifacts import robustness_path
from models.attacks import fgsm, pgd
from models.checkpoint import write_json_atomic
from models.classifiers import DIGIT_CLASSES, Classifier
from models.datasets import DATA_ENV, DataNotFoundError, load_mnist, resolve_data_dir
from models.samples import load_digit_sample
from training.cli import fail

NOISE_SEED = 0
PGD_STEPS = 10
EPSILONS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]  # L-infinity radius on the 0..1 pixel scale
Change = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]  # (uint8 digits (N, 28, 28), labels (N,), value)
# name -> (what the values are, the values, the change; the bends ignore the labels)
BENDS: dict[str, tuple[str, list[Any], Change]] = {
    "rotation": ("degrees counter-clockwise, about the centre of mass", list(range(-60, 61, 10)),
                 lambda x, _, angle: perturb.rotate(x, angle)),
    "shift": ("pixels to the right", list(range(7)), lambda x, _, k: perturb.shift(x, 0, k)),
    "thickness": ("pixels added to every side of the strokes (negative: removed)", list(range(-2, 4)),
                  lambda x, _, k: perturb.thickness(x, k)),
    "noise": ("standard deviation of Gaussian pixel noise, 0..1 pixel scale", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
              lambda x, _, sigma: perturb.noise(x, sigma, NOISE_SEED)),
}


def accuracy_curve(clf: Classifier, images: np.ndarray, labels: np.ndarray, values: list[Any], change: Change,
                   batch_size: int) -> list[float]:
    """Accuracy on ``change(images, labels, value)`` for each value, batch by batch: one float per value."""
    accuracies = []
    for value in values:
        hits = 0
        for s in range(0, len(images), batch_size):
            x, y = images[s : s + batch_size], labels[s : s + batch_size]
            hits += int((clf.predict(change(x, y, value)) == y).sum())
        accuracies.append(hits / len(images))
    return accuracies


def robustness_report(clf: Classifier, images: np.ndarray, labels: np.ndarray, attack_limit: int,
                      batch_size: int = 500) -> dict[str, Any]:
    """Every curve for one classifier: {"clean_accuracy", "curves": {name: {"x", "values", "accuracy", "n"}},
    "noise_seed"}. images: uint8 (N, 28, 28); labels: int (N,). The attacks use the first ``attack_limit``."""
    n = min(attack_limit, len(images))
    attacks: dict[str, tuple[str, list[Any], Change]] = {
        "fgsm": ("eps: L-infinity radius, 0..1 pixel scale (FGSM)", EPSILONS, lambda x, y, eps: fgsm(clf, x, y, eps)),
        "pgd": (f"eps: L-infinity radius, 0..1 pixel scale (PGD, {PGD_STEPS} steps of 2.5 eps / {PGD_STEPS}, "
                "starting at the image)", EPSILONS, lambda x, y, eps: pgd(clf, x, y, eps, PGD_STEPS)),
    }
    curves = {}
    for name, (what, values, change) in (BENDS | attacks).items():
        t0 = time.perf_counter()
        m = n if name in attacks else len(images)
        accuracy = accuracy_curve(clf, images[:m], labels[:m], values, change, batch_size)
        curves[name] = {"x": what, "values": values, "accuracy": accuracy, "n": m}
        print(f"  {name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    predictions = np.concatenate([clf.predict(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])
    return {"clean_accuracy": float((predictions == labels).mean()), "curves": curves, "noise_seed": NOISE_SEED}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['model']} on the {report['dataset']} ({report['n']} digits): clean accuracy "
             f"{report['clean_accuracy']:.4f}"]
    for name, c in report["curves"].items():
        points = "  ".join(f"{v:g}: {a:.3f}" for v, a in zip(c["values"], c["accuracy"]))
        lines.append(f"  {name:<9} ({c['x']}; n={c['n']})\n    {points}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.robustness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", metavar="checkpoint",
                   help="one or more digit checkpoint files, e.g. checkpoints/digit_cnn.safetensors")
    p.add_argument("--data-dir", default=None, help=f"folder holding MNIST/raw (default: ${DATA_ENV}, else ./data)")
    p.add_argument("--sample", action="store_true", help="use the 500 digits bundled in samples/ instead of MNIST")
    p.add_argument("--limit", type=int, default=None, help="use only the first N test digits for every curve")
    p.add_argument("--attack-limit", type=int, default=1000,
                   help="use only the first N of those digits for the FGSM and PGD curves (default 1000)")
    p.add_argument("--batch-size", type=int, default=500, help="digits per forward or gradient pass (default 500)")
    p.add_argument("--json", dest="json_out", default=None,
                   help="also write every report to this JSON file, keyed by checkpoint file name")
    p.add_argument("--save", action="store_true",
                   help="also write each report beside its checkpoint as <stem>.robustness.json, with the "
                   "checkpoint's sha256 (the file the app reads)")
    args = p.parse_args(argv)
    try:
        classifiers = [load_classifier(path) for path in args.checkpoints]
        if args.sample:
            dataset, (images, labels, _) = "bundled MNIST sample", load_digit_sample()
        else:
            dataset, (images, labels) = "MNIST test set", load_mnist(resolve_data_dir(args.data_dir), train=False)
    except (CheckpointError, DataNotFoundError) as e:
        fail(str(e))
    for path, clf in zip(args.checkpoints, classifiers):
        if clf.class_names != DIGIT_CLASSES:
            fail(f"{path} is not a digit classifier ({clf.name}); robustness is measured on MNIST digits")
    images, labels = images[: args.limit], labels[: args.limit]
    reports = {}
    for path, clf in zip(args.checkpoints, classifiers):
        print(f"{clf.name} ({path}):", file=sys.stderr)
        t0 = time.perf_counter()
        report = robustness_report(clf, images, labels, args.attack_limit, args.batch_size)
        # The file name and sha256, as in training/evaluate.py: the hash lets the app spot a stale report.
        report = {"model": clf.name, "checkpoint": Path(path).name, "sha256": clf.describe()["checkpoint"]["sha256"],
                  "dataset": dataset, "n": len(images), **report, "seconds": round(time.perf_counter() - t0, 1)}
        print(format_report(report), flush=True)
        reports[report["checkpoint"]] = report
        if args.save:
            write_json_atomic(robustness_path(path), report)
            print(f"wrote {robustness_path(path)}", file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(reports, indent=2) + "\n")
        print(f"wrote {args.json_out}", file=sys.stderr)


if __name__ == "__main__":
    main()
