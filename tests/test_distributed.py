"""Training under torchrun (training/distributed.py): two gloo processes on the CPU train a digit CNN that
loads and scores like a one-process run of the same size and seed, only rank 0 writes, and the NumPy MLP,
which has no collective operations, refuses to start under torchrun.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models import load_classifier
from models.samples import load_digit_sample
from tests.test_training import run_cli

# Small enough for ~1 minute on two shared cores, big enough for one epoch to land far above chance (~78%).
LIMIT = "2000"
TORCHRUN = ("torch.distributed.run", "--standalone", "--nproc-per-node=2")


def train(out_dir: Path, data_dir: Path, *launcher: str) -> Path:
    """One epoch of digit_cnn on LIMIT items, seed 0, plain MNIST, through ``launcher`` (torchrun) or alone."""
    out = out_dir / "digit_cnn.safetensors"
    args = ("training.train", "digit_cnn", "--limit", LIMIT, "--epochs", "1", "--seed", "0", "--no-unknowns",
            "--no-progress", "--out", str(out))
    # torchrun wants "-m" before the module it starts; plain python gets it from run_cli.
    result = run_cli(*launcher, "-m", *args, env_data=data_dir) if launcher else run_cli(*args, env_data=data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[int, Path]:
    """{processes: checkpoint} for a one-process and a two-process run of the same training."""
    return {1: train(tmp_path_factory.mktemp("one"), data_dir),
            2: train(tmp_path_factory.mktemp("two"), data_dir, *TORCHRUN)}


def sample_accuracy(path: Path) -> float:
    images, labels, _ = load_digit_sample()
    return float((load_classifier(path).predict(images) == labels).mean())


@pytest.mark.slow
def test_two_processes_train_like_one(checkpoints: dict[int, Path]) -> None:
    for processes, path in checkpoints.items():
        training = load_classifier(path).describe()["training"]
        assert training["processes"] == processes and training["limit"] == int(LIMIT)
    one, two = (sample_accuracy(checkpoints[n]) for n in (1, 2))
    # Different gradient noise (each process augments its own shard), so not identical: both far above the
    # 10% of chance, and close to each other, on any machine's float rounding.
    assert one > 0.5 and two > 0.5, (one, two)
    assert abs(one - two) < 0.10, (one, two)


@pytest.mark.slow
def test_only_rank_zero_writes(checkpoints: dict[int, Path]) -> None:
    written = sorted(p.name for p in checkpoints[2].parent.iterdir())
    assert written == ["MANIFEST.json", "digit_cnn.history.json", "digit_cnn.safetensors"], written


@pytest.mark.slow  # torchrun starts two Python processes that import torch
def test_numpy_mlp_refuses_torchrun(tmp_path: Path) -> None:
    result = run_cli(*TORCHRUN, "-m", "training.train", "numpy_mlp", "--dry-run", "--no-progress",
                     "--out", str(tmp_path / "numpy_mlp.safetensors"))
    assert result.returncode != 0
    assert "the NumPy MLP trains in one process" in result.stderr and "without torchrun" in result.stderr
    assert not list(tmp_path.iterdir())
