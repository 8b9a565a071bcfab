"""Training and evaluation CLIs: smoke runs on tiny subsets, seeds, atomic writes, clear data errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import load_classifier
from models.artifacts import eval_path, history_path
from models.checkpoint import load_checkpoint, save_checkpoint, sha256_of
from tests.conftest import CHECKPOINTS, DIGIT_CHECKPOINTS, ROOT


def run_cli(*args: str, env_data: Path | None = None, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    """``python -m <args>`` with the project importable from ``cwd``; ``env_data`` sets $PLAYGROUND_DATA_DIR."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **env}
    if env_data is not None:
        env["PLAYGROUND_DATA_DIR"] = str(env_data)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def shipped_hashes() -> dict[str, str]:
    return {p.name: sha256_of(p) for p in sorted(CHECKPOINTS.iterdir()) if p.is_file()}


@pytest.mark.parametrize("model", ["numpy_mlp", "torch_mlp", "digit_cnn"])
def test_digit_training_smoke_run(model: str, tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / f"{model}.safetensors"
    result = run_cli("training.train", model, "--dry-run", "--no-progress", "--out", str(out), env_data=data_dir)
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" in result.stdout
    clf = load_classifier(out)
    assert clf.class_names == [str(d) for d in range(10)]
    assert clf.describe()["training"]["limit"] == 256
    history = json.loads(history_path(out).read_text())
    assert len(history["epochs"]) == 1 and {"train_loss", "val_acc"} <= set(history["epochs"][0])


def test_pet_training_smoke_run(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "pet.safetensors"
    env = {**os.environ, "PLAYGROUND_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "training.train", "pet_cnn", "--limit", "64", "--epochs", "1", "--image-size", "64",
           "--no-progress", "--out", str(out), "--data-dir", str(data_dir)]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    clf = load_classifier(out)
    assert clf.class_names == ["cat", "dog"] and clf.model.config.image_size == 64
    assert list((tmp_path / "cache").glob("pets-train-64-64-*.npy")), "decoded photos were cached"


def test_same_seed_gives_the_same_model(tmp_path: Path, data_dir: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.safetensors"
        result = run_cli("training.train", "numpy_mlp", "--dry-run", "--no-progress", "--seed", "7", "--out", str(out),
                         env_data=data_dir)
        assert result.returncode == 0, result.stderr
        outs.append(load_checkpoint(out)[0])
    assert outs[0].keys() == outs[1].keys()
    for key in outs[0]:
        np.testing.assert_array_equal(outs[0][key], outs[1][key])


@pytest.mark.parametrize("model", ["numpy_mlp", "digit_cnn", "pet_cnn"])
def test_missing_data_gives_one_clear_message(model: str, tmp_path: Path) -> None:
    result = run_cli("training.train", model, "--dry-run", "--data-dir", str(tmp_path / "empty"), "--out",
                     str(tmp_path / "x.safetensors"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str((tmp_path / "empty").resolve()) in result.stderr
    assert "--data-dir" in result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_train_without_model_prints_usage() -> None:
    result = run_cli("training.train")
    assert result.returncode == 2 and "numpy_mlp" in result.stderr and "digit_cnn" in result.stderr


@pytest.mark.slow
def test_dry_runs_never_touch_the_shipped_checkpoints(tmp_path: Path, data_dir: Path) -> None:
    """Every CLI's dry run with its default --out writes under ./runs/, never into checkpoints/."""
    before = shipped_hashes()
    for model in ("numpy_mlp", "torch_mlp", "digit_cnn", "pet_cnn"):
        result = run_cli("training.train", model, "--dry-run", "--no-progress", env_data=data_dir, cwd=tmp_path,
                         PLAYGROUND_CACHE_DIR=str(tmp_path / "cache"))
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "runs" / f"{model}.safetensors").is_file()
        assert load_classifier(tmp_path / "runs" / f"{model}.safetensors").meta["model_type"] == model
    # runs/ is scratch: the same command again replaces the last run without --force.
    again = run_cli("training.train", "numpy_mlp", "--dry-run", "--no-progress", env_data=data_dir, cwd=tmp_path,
                    PLAYGROUND_CACHE_DIR=str(tmp_path / "cache"))
    assert again.returncode == 0, again.stderr
    assert shipped_hashes() == before


@pytest.mark.parametrize("extra", [["--dry-run"], ["--limit", "100"], []], ids=["dry-run", "limit", "no-force"])
def test_shipped_checkpoint_is_never_replaced_by_accident(extra: list[str], tmp_path: Path) -> None:
    before = shipped_hashes()
    target = CHECKPOINTS / "numpy_mlp.safetensors"
    result = run_cli("training.train", "numpy_mlp", *extra, "--out", str(target), "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("never write into" if extra else "--force") in result.stderr
    assert shipped_hashes() == before


def test_force_replaces_a_listed_checkpoint_and_its_manifest_entry(tmp_path: Path, data_dir: Path) -> None:
    listed = save_checkpoint(tmp_path / "numpy_mlp.safetensors", *load_checkpoint(DIGIT_CHECKPOINTS["numpy_mlp"]))
    args = ["training.train", "numpy_mlp", "--epochs", "1", "--no-progress", "--out", str(listed)]
    refused = run_cli(*args, "--limit", "300", env_data=data_dir)
    assert refused.returncode == 2 and "--force" in refused.stderr
    result = run_cli(*args, "--limit", "300", "--force", env_data=data_dir)
    assert result.returncode == 0, result.stderr
    assert load_classifier(listed).describe()["training"]["limit"] == 300  # the new model, accepted by the manifest


def test_limit_keeps_the_whole_test_set(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "m.safetensors"
    result = run_cli("training.train", "numpy_mlp", "--dry-run", "--no-progress", "--out", str(out), env_data=data_dir)
    assert result.returncode == 0, result.stderr
    history = json.loads(history_path(out).read_text())
    assert history["test"]["n"] == 10_000


def test_history_files_keep_every_dot_but_the_suffix() -> None:
    assert history_path("runs/cnn.lr3e-3.safetensors").name == "cnn.lr3e-3.history.json"
    assert eval_path("runs/cnn.lr1e-3.safetensors").name == "cnn.lr1e-3.eval.json"


def test_interrupted_write_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch) -> None:
    tensors, meta = load_checkpoint(DIGIT_CHECKPOINTS["digit_cnn"])
    path = save_checkpoint(tmp_path / "cnn.safetensors", tensors, meta)
    before = path.read_bytes()

    import models.checkpoint

    def crash(*args, **kwargs):
        Path(args[1]).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(models.checkpoint, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, tensors, meta)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MANIFEST.json", "cnn.safetensors"]  # no temp file left


def test_evaluate_cli_on_the_bundled_sample(tmp_path: Path, digit_classifiers, digit_sample) -> None:
    out = tmp_path / "eval.json"
    result = run_cli("training.evaluate", str(DIGIT_CHECKPOINTS["numpy_mlp"]), "--sample", "--json", str(out),
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "confusion matrix" in result.stdout and "per-class accuracy" in result.stdout
    report = json.loads(out.read_text())
    images, labels = digit_sample
    expected = (digit_classifiers["numpy_mlp"].predict(images) == labels).mean()
    assert report["n"] == 500 and report["accuracy"] == pytest.approx(expected)
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 500 and np.trace(matrix) == round(expected * 500)


def test_evaluate_cli_reports_a_bad_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    result = run_cli("training.evaluate", str(bad))
    assert result.returncode == 2 and "bad.safetensors" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_cli_saves_the_report_beside_the_checkpoint(tmp_path: Path, digit_classifiers, digit_sample) -> None:
    # A copy, so the committed checkpoints/digit_cnn.eval.json is neither read nor overwritten.
    committed = eval_path(DIGIT_CHECKPOINTS["digit_cnn"])
    committed_before = committed.read_bytes() if committed.exists() else None
    copy = save_checkpoint(tmp_path / "digit_cnn.safetensors", *load_checkpoint(DIGIT_CHECKPOINTS["digit_cnn"]))
    result = run_cli("training.evaluate", str(copy), "--sample", "--save", "--no-progress")
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "digit_cnn.eval.json"
    assert eval_path(copy) == saved and str(saved) in result.stderr
    report = json.loads(saved.read_text())
    assert report["sha256"] == sha256_of(copy) == load_classifier(copy).describe()["checkpoint"]["sha256"]
    assert report["checkpoint"] == "digit_cnn.safetensors" and report["class_names"] == [str(d) for d in range(10)]
    images, labels = digit_sample
    expected = (digit_classifiers["digit_cnn"].predict(images) == labels).mean()
    assert report["n"] == 500 and report["accuracy"] == pytest.approx(expected)
    assert np.array(report["confusion_matrix"]).sum() == 500 and len(report["per_class_accuracy"]) == 10
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp file left behind
    assert (committed.read_bytes() if committed.exists() else None) == committed_before


def test_evaluate_help_explains_save() -> None:
    result = run_cli("training.evaluate", "--help")
    assert result.returncode == 0 and "--save" in result.stdout and "eval.json" in result.stdout


def test_turned_outliers_are_turned_or_mirrored_copies_without_repeats() -> None:
    from training.not_digits import turned

    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)  # no symmetry: 35 copies
    copies = {bytes(np.ascontiguousarray(t)) for im in images for t in
              [*(np.rot90(im, k) for k in (1, 2, 3)), im[:, ::-1], im[::-1, :]]}
    out = turned(images, 20, seed=3)
    assert out.shape == (20, 28, 28) and out.dtype == np.uint8
    made = [bytes(im) for im in out]
    assert len(set(made)) == 20 and set(made) <= copies
    assert not set(made) & {bytes(im) for im in images}  # never an unturned original
    assert {bytes(im) for im in turned(images, 1000, seed=3)} == copies  # at most five per drawing, each once
    np.testing.assert_array_equal(turned(images, 20, seed=3), out)  # seeded


def test_turned_outliers_flag_adds_that_many_non_digits(data_dir: Path) -> None:
    from training.digit_data import NOT_A_DIGIT, data_from_args
    from training.train import build_parser

    def non_digits(*flags: str) -> int:
        args = build_parser("torch_mlp").parse_args(["torch_mlp", "--limit", "64", "--data-dir", str(data_dir),
                                                     *flags])
        return int((data_from_args(args).train[1] == NOT_A_DIGIT).sum())

    plain = non_digits("--turned-outliers", "0")
    assert plain > 0
    assert non_digits("--turned-outliers", "50") == plain + 50
    assert non_digits("--no-outliers", "--turned-outliers", "50") == 0


def test_turned_outliers_default_to_what_each_shipped_model_was_trained_with() -> None:
    from training.digit_data import TURNED_OUTLIERS
    from training.train import build_parser

    defaults = {m: build_parser(m).parse_args([m]).turned_outliers for m in ("numpy_mlp", "torch_mlp", "digit_cnn")}
    assert defaults == {"numpy_mlp": TURNED_OUTLIERS, "torch_mlp": TURNED_OUTLIERS, "digit_cnn": 0}
    for model, count in defaults.items():  # what the checkpoint records (the CNN predates the flag: none)
        recorded = load_classifier(DIGIT_CHECKPOINTS[model]).describe()["training"].get("turned_outliers", 0)
        assert recorded == count, model
