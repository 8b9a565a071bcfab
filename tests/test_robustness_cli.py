"""The robustness CLI (training/robustness.py): its curves are the accuracies one would measure by hand, its
reports say which checkpoint they belong to, and it stops with one clear message when it cannot run.

The CLI runs in this process, through its ``main``; only ``--help`` starts a fresh ``python -m``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from models import perturb
from models.artifacts import robustness_path
from models.attacks import fgsm
from models.checkpoint import load_checkpoint, save_checkpoint, sha256_of
from tests.conftest import DIGIT_CHECKPOINTS, PET_CHECKPOINT, ROOT
from tests.test_training import stops
from training import robustness

CURVES = ["rotation", "shift", "thickness", "noise", "fgsm", "pgd"]
N, ATTACKED = 100, 50  # of the bundled digits: every curve on the first N, the attacks on the first ATTACKED


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -m training.robustness <args>`` from the project root, on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "training.robustness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, dict, SimpleNamespace]:
    """One --save --json run on a COPY of the NumPy MLP (never beside the committed checkpoints), on the first
    N bundled digits, attacks on the first ATTACKED: (copy, --json contents, what it printed: .stdout, .stderr)."""
    folder = tmp_path_factory.mktemp("robustness")
    copy = save_checkpoint(folder / "numpy_mlp.safetensors", *load_checkpoint(DIGIT_CHECKPOINTS["numpy_mlp"]))
    out = folder / "all.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):  # capsys is per test
        robustness.main([str(copy), "--sample", "--limit", str(N), "--attack-limit", str(ATTACKED), "--save",
                         "--json", str(out)])
    return copy, json.loads(out.read_text()), SimpleNamespace(stdout=stdout.getvalue(), stderr=stderr.getvalue())


def test_curves_are_the_accuracies_measured_by_hand(sample_run, digit_classifiers, digit_sample) -> None:
    _, reports, result = sample_run
    report = reports["numpy_mlp.safetensors"]
    clf, (images, labels) = digit_classifiers["numpy_mlp"], (a[:N] for a in digit_sample)
    curves = report["curves"]
    assert list(curves) == CURVES and report["n"] == N and report["dataset"] == "bundled MNIST sample"

    def accuracy(x: np.ndarray, y: np.ndarray = labels) -> float:
        return float((clf.predict(x) == y).mean())

    assert report["clean_accuracy"] == pytest.approx(accuracy(images))
    rotation = dict(zip(curves["rotation"]["values"], curves["rotation"]["accuracy"]))
    assert rotation[30] == pytest.approx(accuracy(perturb.rotate(images, 30)))
    assert dict(zip(curves["thickness"]["values"], curves["thickness"]["accuracy"]))[-1] == pytest.approx(
        accuracy(perturb.thickness(images, -1)))
    fgsm_curve = dict(zip(curves["fgsm"]["values"], curves["fgsm"]["accuracy"]))
    assert curves["fgsm"]["n"] == curves["pgd"]["n"] == ATTACKED
    attacked, their_labels = images[:ATTACKED], labels[:ATTACKED]
    assert fgsm_curve[0.1] == pytest.approx(accuracy(fgsm(clf, attacked, their_labels, 0.1), their_labels))
    for name in ("rotation", "shift", "thickness", "noise"):  # the unbent point of each curve is the clean accuracy
        c = curves[name]
        assert len(c["values"]) == len(c["accuracy"]) and c["n"] == N
        assert c["accuracy"][c["values"].index(0)] == pytest.approx(report["clean_accuracy"])
    assert rotation[60] < rotation[0] - 0.3 and rotation[-60] < rotation[0] - 0.3
    assert curves["pgd"]["accuracy"][0] == fgsm_curve[0] == pytest.approx(accuracy(attacked, their_labels))
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


def test_missing_data_gives_one_clear_message(tmp_path: Path, capsys) -> None:
    assert stops(robustness.main, [str(DIGIT_CHECKPOINTS["numpy_mlp"]), "--data-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert str((tmp_path / "empty").resolve()) in err and "--data-dir" in err


@pytest.mark.parametrize("checkpoint", ["bad", "pets"])
def test_unusable_checkpoints_are_refused(checkpoint: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"not a checkpoint")
    assert stops(robustness.main, [str(path if checkpoint == "bad" else PET_CHECKPOINT), "--sample"]) == 2
    assert ("bad.safetensors" if checkpoint == "bad" else "not a digit classifier") in capsys.readouterr().err


def test_help_explains_every_flag() -> None:
    result = run("--help")  # a fresh `python -m training.robustness`
    assert result.returncode == 0
    for flag in ("--save", "--limit", "--attack-limit", "--data-dir", "--json", "--sample", "--batch-size"):
        assert flag in result.stdout
    assert "robustness.json" in result.stdout and "sha256" in result.stdout


def test_limit_on_the_mnist_test_set(data_dir: Path, tmp_path: Path, digit_classifiers) -> None:
    from models.datasets import load_mnist

    out = tmp_path / "r.json"
    robustness.main([str(DIGIT_CHECKPOINTS["numpy_mlp"]), "--data-dir", str(data_dir), "--limit", "100",
                     "--attack-limit", "20", "--json", str(out)])
    report = json.loads(out.read_text())["numpy_mlp.safetensors"]
    images, labels = load_mnist(data_dir, train=False)
    expected = (digit_classifiers["numpy_mlp"].predict(images[:100]) == labels[:100]).mean()
    assert report["dataset"] == "MNIST test set" and report["n"] == 100
    assert report["clean_accuracy"] == pytest.approx(expected)
    assert report["curves"]["pgd"]["n"] == 20 and report["curves"]["noise"]["n"] == 100
