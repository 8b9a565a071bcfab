"""The robustness CLI (training/robustness.py): its curves are the accuracies one would measure by hand, its
reports say which checkpoint they belong to, and it stops with one clear message when it cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import perturb
from models.artifacts import robustness_path
from models.attacks import fgsm
from models.checkpoint import load_checkpoint, save_checkpoint, sha256_of
from tests.conftest import DIGIT_CHECKPOINTS, PET_CHECKPOINT, ROOT

CURVES = ["rotation", "shift", "thickness", "noise", "fgsm", "pgd"]


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -m training.robustness <args>`` from the project root, on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "training.robustness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, dict, subprocess.CompletedProcess]:
    """One --save --json run on a COPY of the NumPy MLP (never beside the committed checkpoints), on the 500
    bundled digits, attacks on the first 100: (copy, --json contents, the finished process)."""
    folder = tmp_path_factory.mktemp("robustness")
    copy = save_checkpoint(folder / "numpy_mlp.safetensors", *load_checkpoint(DIGIT_CHECKPOINTS["numpy_mlp"]))
    out = folder / "all.json"
    result = run(str(copy), "--sample", "--attack-limit", "100", "--save", "--json", str(out))
    assert result.returncode == 0, result.stderr
    return copy, json.loads(out.read_text()), result


def test_curves_are_the_accuracies_measured_by_hand(sample_run, digit_classifiers, digit_sample) -> None:
    _, reports, result = sample_run
    report = reports["numpy_mlp.safetensors"]
    clf, (images, labels) = digit_classifiers["numpy_mlp"], digit_sample
    curves = report["curves"]
    assert list(curves) == CURVES and report["n"] == 500 and report["dataset"] == "bundled MNIST sample"

    def accuracy(x: np.ndarray, y: np.ndarray = labels) -> float:
        return float((clf.predict(x) == y).mean())

    assert report["clean_accuracy"] == pytest.approx(accuracy(images))
    rotation = dict(zip(curves["rotation"]["values"], curves["rotation"]["accuracy"]))
    assert rotation[30] == pytest.approx(accuracy(perturb.rotate(images, 30)))
    assert dict(zip(curves["thickness"]["values"], curves["thickness"]["accuracy"]))[-1] == pytest.approx(
        accuracy(perturb.thickness(images, -1)))
    fgsm_curve = dict(zip(curves["fgsm"]["values"], curves["fgsm"]["accuracy"]))
    assert curves["fgsm"]["n"] == curves["pgd"]["n"] == 100
    assert fgsm_curve[0.1] == pytest.approx(accuracy(fgsm(clf, images[:100], labels[:100], 0.1), labels[:100]))
    for name in ("rotation", "shift", "thickness", "noise"):  # the unbent point of each curve is the clean accuracy
        c = curves[name]
        assert len(c["values"]) == len(c["accuracy"]) and c["n"] == 500
        assert c["accuracy"][c["values"].index(0)] == pytest.approx(report["clean_accuracy"])
    assert rotation[60] < rotation[0] - 0.3 and rotation[-60] < rotation[0] - 0.3
    assert curves["pgd"]["accuracy"][0] == fgsm_curve[0] == pytest.approx(accuracy(images[:100], labels[:100]))
    assert all(p <= f for p, f in zip(curves["pgd"]["accuracy"], curves["fgsm"]["accuracy"]))
    assert curves["fgsm"]["accuracy"][-1] < 0.2  # eps 0.3 breaks an undefended MLP
    assert "rotation" in result.stdout and "clean accuracy" in result.stdout


def test_save_writes_the_report_beside_the_checkpoint_with_its_hash(sample_run) -> None:
    copy, reports, result = sample_run
    saved = copy.with_name("numpy_mlp.robustness.json")
    assert robustness_path(copy) == saved and str(saved) in result.stderr
    report = json.loads(saved.read_text())
    assert report == reports["numpy_mlp.safetensors"]
    assert report["sha256"] == sha256_of(copy) and report["checkpoint"] == "numpy_mlp.safetensors"
    assert not list(copy.parent.glob(".*.tmp"))  # written atomically


def test_robustness_path_keeps_every_dot_but_the_suffix() -> None:
    assert robustness_path("runs/cnn.lr3e-3.safetensors") == Path("runs/cnn.lr3e-3.robustness.json")


def test_missing_data_gives_one_clear_message(tmp_path: Path) -> None:
    result = run(str(DIGIT_CHECKPOINTS["numpy_mlp"]), "--data-dir", str(tmp_path / "empty"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str((tmp_path / "empty").resolve()) in result.stderr and "--data-dir" in result.stderr


@pytest.mark.parametrize("checkpoint", ["bad", "pets"])
def test_unusable_checkpoints_are_refused(checkpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"not a checkpoint")
    result = run(str(path if checkpoint == "bad" else PET_CHECKPOINT), "--sample")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("bad.safetensors" if checkpoint == "bad" else "not a digit classifier") in result.stderr


def test_help_explains_every_flag() -> None:
    result = run("--help")
    assert result.returncode == 0
    for flag in ("--save", "--limit", "--attack-limit", "--data-dir", "--json", "--sample", "--batch-size"):
        assert flag in result.stdout
    assert "robustness.json" in result.stdout and "sha256" in result.stdout


def test_limit_on_the_mnist_test_set(data_dir: Path, tmp_path: Path, digit_classifiers) -> None:
    from models.datasets import load_mnist

    out = tmp_path / "r.json"
    result = run(str(DIGIT_CHECKPOINTS["numpy_mlp"]), "--data-dir", str(data_dir), "--limit", "300",
                 "--attack-limit", "50", "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())["numpy_mlp.safetensors"]
    images, labels = load_mnist(data_dir, train=False)
    expected = (digit_classifiers["numpy_mlp"].predict(images[:300]) == labels[:300]).mean()
    assert report["dataset"] == "MNIST test set" and report["n"] == 300
    assert report["clean_accuracy"] == pytest.approx(expected)
    assert report["curves"]["pgd"]["n"] == 50 and report["curves"]["noise"]["n"] == 300
