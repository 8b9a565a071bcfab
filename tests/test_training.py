"""Training and evaluation CLIs: smoke runs on tiny subsets, seeds, atomic writes, clear data errors.

The training runs are few and shared: ``dry_runs`` runs each model's ``--dry-run`` once, in a fresh process
started in a scratch folder, and the smoke, seed and shipped-checkpoint tests all read what those runs left.
Everything that stops before training (usage, refusals, missing data) and the evaluate CLI run in this
process, through each CLI's ``main``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from models import load_classifier
from models.artifacts import eval_path, history_path
from models.checkpoint import load_checkpoint, save_checkpoint, sha256_of
from models.samples import pet_examples
from tests.conftest import CHECKPOINTS, DIGIT_CHECKPOINTS, PET_CHECKPOINTS, ROOT
from training import evaluate
from training import train as train_cli
from uploads import load_photo

DIGIT_MODELS = ["numpy_mlp", "torch_mlp", "digit_cnn"]
PHOTO_MODELS = ["pet_mlp", "pet_small_cnn", "pet_cnn"]
# A photo dry run's cost is decoding photos: 64 of them (the default is 256), and the Pet CNN's at 64 px, not 128.
SMALLER = {"pet_mlp": ("--limit", "64"), "pet_small_cnn": ("--limit", "64"),
           "pet_cnn": ("--limit", "64", "--image-size", "64")}


def run_cli(*args: str, env_data: Path | None = None, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    """``python -m <args>`` with the project importable from ``cwd``; ``env_data`` sets $PLAYGROUND_DATA_DIR."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **env}
    if env_data is not None:
        env["PLAYGROUND_DATA_DIR"] = str(env_data)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def shipped_hashes() -> dict[str, str]:
    return {p.name: sha256_of(p) for p in sorted(CHECKPOINTS.iterdir()) if p.is_file()}


def stops(main, argv: list[str]) -> int:
    """The exit status with which ``main(argv)`` stops (it must stop: SystemExit, not another exception)."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return stop.value.code


@dataclass(frozen=True)
class DryRuns:
    folder: Path  # where they ran: ./runs/ (their default --out) and ./cache/ are in it
    results: dict[str, subprocess.CompletedProcess]  # model -> its dry run
    first_numpy_mlp: dict[str, np.ndarray] | None  # the NumPy MLP's tensors before `again` replaced them
    again: subprocess.CompletedProcess  # the NumPy MLP's dry run once more, same command
    before: dict[str, str]  # checkpoints/ (file name -> sha256) before the runs
    after: dict[str, str]  # and after


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> DryRuns:
    """Every model's ``--dry-run`` with its default --out, each in a fresh process started in a scratch
    folder, then the NumPy MLP's again; with checkpoints/ hashed before and after."""
    folder = tmp_path_factory.mktemp("dry_runs")
    env = {"PLAYGROUND_CACHE_DIR": str(folder / "cache")}

    def dry_run(model: str) -> subprocess.CompletedProcess:
        return run_cli("training.train", model, "--dry-run", "--no-progress", *SMALLER.get(model, ()),
                       env_data=data_dir, cwd=folder, **env)

    before = shipped_hashes()
    results = {model: dry_run(model) for model in [*DIGIT_MODELS, *PHOTO_MODELS]}
    first = folder / "runs" / "numpy_mlp.safetensors"
    first_numpy_mlp = load_checkpoint(first)[0] if first.is_file() else None
    again = dry_run("numpy_mlp")
    return DryRuns(folder, results, first_numpy_mlp, again, before, shipped_hashes())


def dry_run_output(dry_runs: DryRuns, model: str) -> Path:
    result = dry_runs.results[model]
    assert result.returncode == 0, result.stderr
    return dry_runs.folder / "runs" / f"{model}.safetensors"


@pytest.mark.slow
@pytest.mark.parametrize("model", DIGIT_MODELS)
def test_digit_training_smoke_run(model: str, dry_runs: DryRuns) -> None:
    out = dry_run_output(dry_runs, model)
    assert "epoch 1/1" in dry_runs.results[model].stdout
    clf = load_classifier(out)
    assert clf.class_names == [str(d) for d in range(10)]
    assert clf.describe()["training"]["limit"] == 256  # what --dry-run means without --limit
    history = json.loads(history_path(out).read_text())
    assert len(history["epochs"]) == 1 and {"train_loss", "val_acc"} <= set(history["epochs"][0])


@pytest.mark.slow
@pytest.mark.parametrize(("model", "side"), [("pet_mlp", 32), ("pet_small_cnn", 64), ("pet_cnn", 64)])
def test_photo_training_smoke_run(model: str, side: int, dry_runs: DryRuns) -> None:
    out = dry_run_output(dry_runs, model)
    clf = load_classifier(out)
    assert clf.class_names == ["cat", "dog"] and clf.input_size == side
    info = clf.describe()
    assert info["training"]["limit"] == 64 and info["training"]["train_images"] == 64
    assert info["unknown"]["threshold"] == clf.unknown_threshold and info["calibration"]["temperature"] > 0
    assert list((dry_runs.folder / "cache").glob(f"pets-train-{side}-64-*.npy")), "decoded photos were cached"
    assert len(json.loads(history_path(out).read_text())["epochs"]) == 1


@pytest.mark.slow
def test_same_seed_gives_the_same_model(dry_runs: DryRuns) -> None:
    """The same command twice (seed 0 both times; the second reads the drawings the first cached): the same
    weights, to the bit."""
    out = dry_run_output(dry_runs, "numpy_mlp")
    assert dry_runs.again.returncode == 0, dry_runs.again.stderr
    first, second = dry_runs.first_numpy_mlp, load_checkpoint(out)[0]
    assert first is not None and first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


@pytest.mark.slow
def test_dry_runs_never_touch_the_shipped_checkpoints(dry_runs: DryRuns) -> None:
    """Every CLI's dry run with its default --out writes under ./runs/, never into checkpoints/."""
    for model in dry_runs.results:
        out = dry_run_output(dry_runs, model)
        assert load_classifier(out).meta["model_type"] == model
    # runs/ is scratch: the same command again replaced the last run without --force.
    assert dry_runs.again.returncode == 0, dry_runs.again.stderr
    assert "wrote runs/numpy_mlp.safetensors" in dry_runs.again.stdout
    assert dry_runs.after == dry_runs.before


@pytest.mark.slow
def test_limit_keeps_the_whole_test_set(dry_runs: DryRuns) -> None:
    history = json.loads(history_path(dry_run_output(dry_runs, "numpy_mlp")).read_text())
    assert history["test"]["n"] == 10_000


@pytest.mark.parametrize("model", ["numpy_mlp", "digit_cnn", *PHOTO_MODELS])
def test_missing_data_gives_one_clear_message(model: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.safetensors"
    assert stops(train_cli.main, [model, "--dry-run", "--data-dir", str(tmp_path / "empty"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str((tmp_path / "empty").resolve()) in err
    assert "--data-dir" in err
    assert not out.exists()


def test_train_without_model_prints_usage() -> None:
    result = run_cli("training.train")  # the one fresh `python -m training.train` outside the slow tests
    assert result.returncode == 2 and "numpy_mlp" in result.stderr and "digit_cnn" in result.stderr


@pytest.mark.parametrize("extra", [["--dry-run"], ["--limit", "100"], []], ids=["dry-run", "limit", "no-force"])
def test_shipped_checkpoint_is_never_replaced_by_accident(extra: list[str], tmp_path: Path, capsys) -> None:
    before = shipped_hashes()
    target = CHECKPOINTS / "numpy_mlp.safetensors"
    assert stops(train_cli.main, ["numpy_mlp", *extra, "--out", str(target), "--data-dir", str(tmp_path)]) == 2
    assert ("never write into" if extra else "--force") in capsys.readouterr().err
    assert shipped_hashes() == before


def test_force_replaces_a_listed_checkpoint_and_its_manifest_entry(tmp_path: Path, data_dir: Path, capsys) -> None:
    listed = save_checkpoint(tmp_path / "numpy_mlp.safetensors", *load_checkpoint(DIGIT_CHECKPOINTS["numpy_mlp"]))
    # A tiny plain-MNIST MLP: what is tested is where it may be written, not how well it learns.
    args = ["numpy_mlp", "--epochs", "1", "--limit", "300", "--hidden", "16", "--no-unknowns", "--no-progress",
            "--out", str(listed), "--data-dir", str(data_dir)]
    assert stops(train_cli.main, args) == 2 and "--force" in capsys.readouterr().err
    train_cli.main([*args, "--force"])
    assert load_classifier(listed).describe()["training"]["limit"] == 300  # the new model, accepted by the manifest


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


def test_evaluate_cli_on_the_bundled_sample(tmp_path: Path, digit_classifiers, digit_sample, capsys) -> None:
    out = tmp_path / "eval.json"
    evaluate.main([str(DIGIT_CHECKPOINTS["numpy_mlp"]), "--sample", "--json", str(out), "--no-progress"])
    stdout = capsys.readouterr().out
    assert "confusion matrix" in stdout and "per-class accuracy" in stdout
    report = json.loads(out.read_text())
    images, labels = digit_sample
    expected = (digit_classifiers["numpy_mlp"].predict(images) == labels).mean()
    assert report["n"] == 500 and report["accuracy"] == pytest.approx(expected)
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 500 and np.trace(matrix) == round(expected * 500)


def test_evaluate_cli_reports_several_checkpoints_with_a_summary(photo_classifiers, tmp_path: Path,
                                                                  capsys) -> None:
    """``python -m training.evaluate`` on every photo model (here on the bundled photos): one report each, then
    one summary line per model with its accuracy."""
    paths = [str(p) for p in PET_CHECKPOINTS.values()]
    evaluate.main([*paths, "--sample", "--no-progress"])
    stdout = capsys.readouterr().out
    summary = stdout.split("AUROC unknown")[-1].strip().splitlines()
    assert [line.split("  ")[0] for line in summary] == [clf.name for clf in photo_classifiers.values()]
    for line, clf in zip(summary, photo_classifiers.values()):
        photos = [load_photo(p.read_bytes()) for p, _ in pet_examples()]
        right = (clf.predict(photos) == [clf.class_names.index(c) for _, c in pet_examples()]).mean()
        assert f"{right:.2%}" in line
    assert stops(evaluate.main, [*paths, "--json", str(tmp_path / "x.json")]) == 2  # one report per --json file


def test_evaluate_cli_reports_a_bad_checkpoint(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert stops(evaluate.main, [str(bad)]) == 2 and "bad.safetensors" in capsys.readouterr().err


def test_evaluate_cli_saves_the_report_beside_the_checkpoint(tmp_path: Path, digit_classifiers, digit_sample,
                                                             capsys) -> None:
    # A copy, so the committed checkpoints/digit_cnn.eval.json is neither read nor overwritten.
    committed = eval_path(DIGIT_CHECKPOINTS["digit_cnn"])
    committed_before = committed.read_bytes() if committed.exists() else None
    copy = save_checkpoint(tmp_path / "digit_cnn.safetensors", *load_checkpoint(DIGIT_CHECKPOINTS["digit_cnn"]))
    evaluate.main([str(copy), "--sample", "--save", "--no-progress"])
    saved = tmp_path / "digit_cnn.eval.json"
    assert eval_path(copy) == saved and str(saved) in capsys.readouterr().err
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
    result = run_cli("training.evaluate", "--help")  # a fresh `python -m training.evaluate`
    assert result.returncode == 0 and "--save" in result.stdout and "eval.json" in result.stdout


def test_turned_unknowns_are_turned_or_mirrored_copies_without_repeats() -> None:
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


@pytest.mark.slow  # loads MNIST three times and makes the not-a-digit drawings (seconds, on a cold cache)
def test_turned_unknowns_flag_adds_that_many_non_digits(data_dir: Path) -> None:
    from training.digit_data import NOT_A_DIGIT, data_from_args
    from training.train import build_parser

    def non_digits(*flags: str) -> int:
        args = build_parser("torch_mlp").parse_args(["torch_mlp", "--limit", "64", "--data-dir", str(data_dir),
                                                     *flags])
        return int((data_from_args(args).train[1] == NOT_A_DIGIT).sum())

    plain = non_digits("--turned-unknowns", "0")
    assert plain > 0
    assert non_digits("--turned-unknowns", "50") == plain + 50
    assert non_digits("--no-unknowns", "--turned-unknowns", "50") == 0


def test_turned_unknowns_default_to_what_each_shipped_model_was_trained_with() -> None:
    from training.digit_data import TURNED_UNKNOWNS
    from training.train import build_parser

    defaults = {m: build_parser(m).parse_args([m]).turned_unknowns for m in ("numpy_mlp", "torch_mlp", "digit_cnn")}
    assert defaults == {"numpy_mlp": TURNED_UNKNOWNS, "torch_mlp": TURNED_UNKNOWNS, "digit_cnn": 0}
    for model, count in defaults.items():  # what the checkpoint records (the CNN predates the flag: none)
        training = load_classifier(DIGIT_CHECKPOINTS[model]).describe()["training"]
        # The shipped checkpoints were trained when the flag was called --turned-outliers
        assert training.get("turned_outliers", 0) == count, model


@pytest.mark.slow
def test_a_stopped_pet_cnn_run_resumes_where_it_stopped(tmp_path: Path, data_dir: Path, monkeypatch, capsys) -> None:
    """Stopped after its first epoch and resumed, a run ends with the weights of the same run uninterrupted;
    resuming with other flags, or with no saved state, stops with a message."""
    import training.train_pet_cnn as trainer

    monkeypatch.chdir(tmp_path)  # runs/ (the outputs and the saved states) is relative to the working folder
    args = ["pet_cnn", "--limit", "32", "--image-size", "64", "--epochs", "2", "--no-progress",
            "--data-dir", str(data_dir)]
    train_cli.main([*args, "--out", "runs/whole.safetensors"])
    save = trainer.save_state

    def save_then_stop(out: Path, state: dict) -> None:
        save(out, state)
        raise KeyboardInterrupt  # as if the sitting ended right after the first epoch was saved

    monkeypatch.setattr(trainer, "save_state", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_cli.main([*args, "--out", "runs/split.safetensors"])
    monkeypatch.setattr(trainer, "save_state", save)
    assert not (tmp_path / "runs" / "split.safetensors").exists()
    assert stops(train_cli.main, [*args, "--out", "runs/split.safetensors", "--resume", "--lr", "0.1"]) == 2
    assert "other flags (lr)" in capsys.readouterr().err
    train_cli.main([*args, "--out", "runs/split.safetensors", "--resume"])
    assert "resuming after epoch 1 of 2" in capsys.readouterr().out
    whole, split = load_checkpoint(tmp_path / "runs" / "whole.safetensors"), load_checkpoint(tmp_path / "runs" /
                                                                                             "split.safetensors")
    for key in whole[0]:
        np.testing.assert_allclose(split[0][key], whole[0][key], rtol=1e-6, atol=1e-7)
    assert len(json.loads(history_path(tmp_path / "runs" / "split.safetensors").read_text())["epochs"]) == 2
    assert stops(train_cli.main, [*args, "--out", "runs/never.safetensors", "--resume"]) == 2
    assert "no saved state" in capsys.readouterr().err


@pytest.mark.slow
def test_pet_cnn_init_fine_tunes_a_checkpoint_and_refuses_one_that_does_not_fit(
        tmp_path: Path, data_dir: Path, monkeypatch, capsys) -> None:
    """With --init the run starts from the checkpoint's weights (at a learning rate of almost nothing, it ends
    where it started; from scratch it does not); a checkpoint of another shape stops the run with a message."""
    monkeypatch.chdir(tmp_path)
    args = ["pet_cnn", "--limit", "32", "--image-size", "64", "--epochs", "1", "--no-progress", "--lr", "1e-9",
            "--data-dir", str(data_dir)]
    shipped = load_checkpoint(PET_CHECKPOINTS["pet_cnn"])[0]
    train_cli.main([*args, "--init", str(PET_CHECKPOINTS["pet_cnn"]), "--out", "runs/tuned.safetensors"])
    train_cli.main([*args, "--out", "runs/scratch.safetensors"])
    (tuned, tuned_meta), (scratch, scratch_meta) = (load_checkpoint(tmp_path / "runs" / f"{n}.safetensors")
                                                    for n in ("tuned", "scratch"))
    assert tuned_meta["training"]["started_from"]["sha256"] == sha256_of(PET_CHECKPOINTS["pet_cnn"])
    assert scratch_meta["training"]["started_from"] is None
    convs = [k for k, v in shipped.items() if v.ndim == 4]
    assert len(convs) == 8
    for key in [*convs, "fc.weight"]:
        np.testing.assert_allclose(tuned[key], shipped[key], atol=1e-5)
        assert np.abs(scratch[key] - shipped[key]).max() > 0.01, key
    assert stops(train_cli.main, [*args, "--init", str(PET_CHECKPOINTS["pet_small_cnn"]),
                                  "--out", "runs/other.safetensors"]) == 2
    assert "--init" in capsys.readouterr().err and not (tmp_path / "runs" / "other.safetensors").exists()


def test_feature_distance_is_the_mahalanobis_distance_to_the_nearer_class_mean() -> None:
    from training.neither_scores import fit_distance

    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.25]])
    means = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    labels = rng.integers(0, 2, 20_000)
    features = means[labels] + rng.multivariate_normal(np.zeros(3), cov, len(labels))
    distance = fit_distance(features, labels, shrink=0.0)
    points = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [9.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    expected = np.min([np.einsum("nc,cd,nd->n", points - m, np.linalg.inv(cov), points - m) for m in means], axis=0)
    np.testing.assert_allclose(distance(points), expected, rtol=0.05, atol=0.02)
    assert distance(points)[4] > 100 * distance(points)[0]
