"""Evaluate checkpoints through the public classifier contract: ``python -m training.evaluate <ckpt>...``.

Digit checkpoints are measured on the 10,000 MNIST test digits (or, with ``--sample``, on the 500 bundled
ones); cats-vs-dogs checkpoints on the 1,748 ``test`` photos (``--split val`` for the validation photos, or
``--sample`` for the bundled examples). Prints accuracy, per-class accuracy, the confusion matrix (rows: true
class, columns: predicted) and the calibration error before and after the temperature; on the full data also
how well the model tells known from unknown (training/report.py): digits re-drawn as canvas strokes against
held-out drawings that are not digits, cat and dog photos against held-out photos of other things.
For photo models the report also lists the photos each one gets wrong, and how the model does on photos from
outside its data sets (training/outside.py). ``--json`` writes it all, ``--save`` writes it beside the
checkpoint as ``<stem>.eval.json`` (with the checkpoint's sha256, so a report left over from an older
checkpoint can be told apart; the compare page reads these files). ``--extra-data`` measures a digit model on
the visitors' drawings that training with the same flag held out (training/digit_data.py): accuracy on those
labelled 0-9, and how many of those labelled "not a digit" it refuses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from models import CheckpointError, load_classifier
from models.artifacts import eval_path
from models.calibration import expected_calibration_error
from models.checkpoint import write_json_atomic
from models.classifiers import DIGIT_CLASSES, Classifier
from models.datasets import DATA_ENV, DataNotFoundError, load_mnist, resolve_data_dir
from models.metrics import evaluate_predictions
from models.samples import load_digit_sample, pet_examples
from training.cli import fail
from training.outside import ASPECTS, format_outside, outside_report
from training.report import calibration_report, unknown_report
from training.runlog import progress
from uploads import load_photo


def logits_of(clf: Classifier, images: Any, batch_size: int, show_progress: bool = True) -> np.ndarray:
    """The classifier's outputs for a long sequence of inputs, in batches: float (N, outputs)."""
    starts = range(0, len(images), batch_size)
    out = [clf.logits(images[s : s + batch_size]) for s in progress(starts, "evaluate", len(starts), show_progress)]
    return np.concatenate(out)


def unknown_sets(clf: Classifier, data_dir: Path, split: str) -> tuple[str, Any, dict[str, Any]]:
    """(name, known inputs, {source: unknown inputs}) for telling known from unknown on ``split``."""
    if clf.class_names == DIGIT_CLASSES:
        from training.digit_data import redrawn
        from training.mnist_data import load_splits
        from training.not_digits import not_digits

        digits = load_splits(data_dir)["val" if split == "val" else "test"][0]
        known = redrawn(digits, seed=1 if split == "val" else 2)  # the seeds training/digit_data.py uses
        return f"MNIST {split} digits re-drawn as canvas strokes", known, not_digits(data_dir, split)
    from training.pet_data import load_not_pets, load_pet_split, not_pet_files

    side = clf.input_size
    others = np.asarray(load_not_pets(data_dir, split, side))
    categories = np.array([Path(f).parent.name for f in not_pet_files(data_dir, split)])
    by_category = {c: others[categories == c] for c in sorted(set(categories))}
    return f"cats-vs-dogs {split} photos", np.asarray(load_pet_split(data_dir, split, side)[0]), by_category


def load_eval_set(clf: Classifier, data_dir: Path, sample: bool, split: str = "test") -> tuple[str, Any, np.ndarray]:
    """(description, inputs, labels) for the classifier's task: the ``split`` ("test" or "val") or the sample."""
    if clf.class_names == DIGIT_CLASSES:
        if sample:
            images, labels, _ = load_digit_sample()
            return "bundled MNIST sample", images, labels
        if split == "val":
            from training.mnist_data import load_splits

            images, labels = load_splits(data_dir)["val"]
            return "MNIST validation digits", images, labels
        images, labels = load_mnist(data_dir, train=False)
        return "MNIST test set", images, labels
    if sample:
        examples = pet_examples()
        photos = [load_photo(p.read_bytes()) for p, _ in examples]
        return "bundled example photos", photos, np.array([clf.class_names.index(c) for _, c in examples])
    from training.pet_data import load_pet_split

    side = clf.input_size
    images, labels = load_pet_split(data_dir, split, side)
    return f"cats-vs-dogs {split} set", np.asarray(images), labels


def photo_mistakes(clf: Classifier, probabilities: np.ndarray, labels: np.ndarray, data_dir: Path,
                   split: str) -> list[dict[str, Any]]:
    """Every photo of the split the model gets wrong, most confident first: [{"file": "<class>/<name>.jpg"
    (under cats_vs_dogs/<split>/), "label", "answer", "confidence"}] (the compare page shows them)."""
    from training.pet_data import list_images, pet_folder

    files = [Path(f).relative_to(pet_folder(data_dir, split)).as_posix() for f in list_images(data_dir, split)[0]]
    answers = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(answers != labels)
    wrong = wrong[np.argsort(-probabilities[wrong].max(axis=1), kind="stable")]
    return [{"file": files[i], "label": clf.class_names[labels[i]], "answer": clf.class_names[answers[i]],
             "confidence": round(float(probabilities[i].max()), 4)} for i in wrong]


def held_out_drawings(clf: Classifier, source: str) -> tuple[str, Any, np.ndarray, dict[str, Any] | None]:
    """(description, digit drawings, their labels, {source: "not a digit" drawings} or None if none) of the
    held-out slice of visitors' drawings; exits with a message when the slice has no digit to measure."""
    from training.digit_data import NOT_A_DIGIT, extra_data

    if clf.class_names != DIGIT_CLASSES:
        fail("--extra-data holds visitors' digit drawings: use it with a digit checkpoint")
    images, labels = extra_data(source).held_out
    digit = labels != NOT_A_DIGIT
    if not digit.any():
        fail(f"the held-out slice of {source} has no drawing labelled 0-9 yet (one drawing in five is held out)")
    rejects = {"held-out drawings labelled not a digit": images[~digit]} if (~digit).any() else None
    return "held-out visitors' drawings", images[digit], labels[digit], rejects


def format_report(name: str, where: str, result: dict[str, Any], class_names: list[str]) -> str:
    width = max(5, *(len(c) for c in class_names))
    lines = [f"{name} on the {where} ({result['n']} items): accuracy {result['accuracy']:.4f}", ""]
    lines.append("per-class accuracy:")
    lines += [f"  {c:>{width}}  {a:.4f}" for c, a in result["per_class_accuracy"].items()]
    lines += ["", "confusion matrix (rows: true, columns: predicted):"]
    lines.append(" " * (width + 2) + "".join(f"{c:>{width + 1}}" for c in class_names))
    for c, row in zip(class_names, result["confusion_matrix"]):
        lines.append(f"  {c:>{width}}" + "".join(f"{v:>{width + 1}}" for v in row))
    return "\n".join(lines)


def format_honesty(result: dict[str, Any]) -> str:
    """Calibration and known-vs-unknown figures as a few lines of text."""
    cal = result["calibration"]
    lines = [f"\ncalibration error (ECE, 15 bins): {cal['ece_before']:.4f} before, {cal['ece_after']:.4f} after "
             f"temperature {cal['temperature']:.3f}"]
    unknown = result.get("unknown")
    if unknown:
        lines.append(f"known vs unknown ({unknown['known']}: {unknown['n_known']}, unknown: "
                     f"{sum(unknown['n_unknown'].values())}), AUROC: "
                     + ", ".join(f"{m} {a:.4f}" for m, a in unknown["auroc"].items()))
        if "threshold" in unknown:
            lines.append(f"at the threshold {unknown['threshold']:.3f}: {unknown['unknown_caught']:.2%} of unknowns "
                         f"caught, {unknown['known_refused']:.2%} of known items refused")
            lines += [f"  {source}: {rate:.1%} caught" for source, rate in unknown["caught_by_source"].items()]
    return "\n".join(lines)


def evaluate_checkpoint(checkpoint_file: str, args: argparse.Namespace) -> dict[str, Any]:
    """The report of one checkpoint (see the module docstring), printed; exits with a message on bad input."""
    unknown: dict[str, Any] | None = None  # {source: inputs} to tell from the known classes, where there are any
    try:
        clf = load_classifier(checkpoint_file)
        if args.extra_data:
            where, images, labels, unknown = held_out_drawings(clf, args.extra_data)
        else:
            where, images, labels = load_eval_set(clf, resolve_data_dir(args.data_dir), args.sample, args.split)
    except (CheckpointError, DataNotFoundError) as e:
        fail(str(e))
    t0 = time.perf_counter()
    logits = logits_of(clf, images, args.batch_size, not args.no_progress)
    probabilities = clf.proba_of(logits)
    result = evaluate_predictions(labels, probabilities.argmax(axis=1), clf.class_names)
    result["calibration"] = calibration_report(clf, logits, labels)
    if args.extra_data:  # the visitors' digits against their non-digits
        known_name, known = where, images
    elif not args.sample:
        try:
            known_name, known, unknown = unknown_sets(clf, resolve_data_dir(args.data_dir), args.split)
        except DataNotFoundError as e:
            fail(str(e))
    if clf.class_names != DIGIT_CLASSES and not (args.sample or args.extra_data):
        data_dir = resolve_data_dir(args.data_dir)
        result["mistakes"] = photo_mistakes(clf, probabilities, labels, data_dir, args.split)
        if args.split == "test":  # the validation figures beside the test ones (the model was tuned on val)
            _, val_images, val_labels = load_eval_set(clf, data_dir, False, "val")
            val = clf.proba_of(logits_of(clf, val_images, args.batch_size, False))
            result["val"] = {"n": len(val_labels), "accuracy": float((val.argmax(axis=1) == val_labels).mean()),
                             "ece": expected_calibration_error(val, val_labels)}
        try:
            result["outside"] = outside_report(clf, data_dir, lambda x: logits_of(clf, x, args.batch_size, False),
                                               args.aspect)
        except DataNotFoundError as e:
            fail(str(e))
    if unknown:
        result["unknown"] = unknown_report(
            clf, logits_of(clf, known, args.batch_size, False),
            {source: logits_of(clf, x, args.batch_size, False) for source, x in unknown.items()}, known_name)
    # The file name (not the path as typed) and the sha256: a committed report must not depend on the
    # directory the command ran from, and the hash lets readers spot a report older than its checkpoint.
    result |= {"model": clf.name, "checkpoint": Path(checkpoint_file).name,
               "sha256": clf.describe()["checkpoint"]["sha256"], "class_names": list(clf.class_names), "dataset": where,
               "seconds": round(time.perf_counter() - t0, 2)}
    print(format_report(clf.name, where, result, clf.class_names))
    print(format_honesty(result))
    if "val" in result:
        print(f"validation photos ({result['val']['n']}): accuracy {result['val']['accuracy']:.2%}, "
              f"ECE {result['val']['ece']:.2%}")
    if "outside" in result:
        print(format_outside(result["outside"]))
    return result


def format_summary(results: list[dict[str, Any]]) -> str:
    """One line per model: accuracy, calibration error after the temperature, and AUROC of the unknown output."""
    lines = ["", f"{'model':<16}{'accuracy':>10}{'ECE after':>11}{'AUROC unknown':>15}"]
    for r in results:
        auroc = r.get("unknown", {}).get("auroc", {}).get("unknown")
        lines.append(f"{r['model']:<16}{r['accuracy']:>10.2%}{r['calibration']['ece_after']:>11.2%}"
                     + (f"{auroc:>15.4f}" if auroc is not None else f"{'-':>15}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    p.add_argument("checkpoints", nargs="+", metavar="checkpoint",
                   help="checkpoint file(s), e.g. checkpoints/digit_cnn.safetensors; with several, a summary "
                   "table follows their reports")
    p.add_argument("--data-dir", default=None, help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)")
    p.add_argument("--sample", action="store_true", help="use the small samples bundled in samples/ instead")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which held-out set to measure (default test; val is for tuning, test is reported)")
    p.add_argument("--aspect", choices=ASPECTS, default="stretch",
                   help="photo models: how the photos from outside Kaggle, most not square, are made square before "
                   "the model stretches them (default stretch, as the app does; crop and letterbox are for comparing)")
    p.add_argument("--json", dest="json_out", default=None, help="also write the results to this JSON file")
    p.add_argument(
        "--save",
        action="store_true",
        help="also write the results beside the checkpoint as <stem>.eval.json, with its sha256 "
        "(the report the app's compare page shows)",
    )
    p.add_argument("--extra-data", metavar="SOURCE", default=None,
                   help="measure on the visitors' drawings held out by training with the same --extra-data "
                   "(a feedback database URL or export folder) instead")
    p.add_argument("--batch-size", type=int, default=500, help="inputs per forward pass (default 500)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.extra_data and args.save:
        fail("--save writes the MNIST report the compare page shows; write an --extra-data report with --json")
    if args.json_out and len(args.checkpoints) > 1:
        fail("--json writes one report: give one checkpoint (--save writes one beside each)")
    results = []
    for checkpoint_file in args.checkpoints:
        result = evaluate_checkpoint(checkpoint_file, args)
        results.append(result)
        if args.save:
            path = eval_path(checkpoint_file)
            write_json_atomic(path, result)
            print(f"\nwrote {path}", file=sys.stderr)
    if len(results) > 1:
        print(format_summary(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results[0], indent=2) + "\n")
        print(f"\nwrote {args.json_out}", file=sys.stderr)


if __name__ == "__main__":
    main()
