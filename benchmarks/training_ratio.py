"""The training comparison: one epoch of the NumPy MLP against the PyTorch MLP at the same architecture,
batch size and data, best of a few alternating rounds. ``python -m benchmarks`` runs it in a child process
(``--child training``) whose BLAS/OpenMP thread caps were set before NumPy was imported."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

RATIO_LIMIT = 1.5  # the NumPy MLP must train within 1.5x of PyTorch's time


def training_data(examples: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``examples`` MNIST training digits, or the bundled sample tiled when MNIST is absent."""
    from models.datasets import resolve_data_dir

    data_dir = resolve_data_dir(None)
    if (data_dir / "MNIST" / "raw").is_dir():
        from models.datasets import load_mnist

        x, y = load_mnist(data_dir, train=True)
        source = f"MNIST training set ({data_dir})"
    else:
        from models.samples import load_digit_sample

        x, y, _ = load_digit_sample()
        source = "bundled 500-digit sample, tiled"
    reps = -(-examples // len(y))
    return np.concatenate([x] * reps)[:examples], np.concatenate([y] * reps)[:examples], source


def training_ratio_child(examples: int, rounds: int, batch_size: int) -> dict[str, Any]:
    """Runs in a child process whose BLAS/OpenMP thread caps were set before NumPy was imported."""
    import torch

    from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
    from models.numpy_training import shifted_digits
    from models.torch_mlp import TorchMLP
    from training import train_numpy_mlp
    from training.torch_loop import train_one_epoch as torch_epoch
    from training.train_digits_torch import make_prepare

    x, y, source = training_data(examples)
    config = MLPConfig()  # the committed models' architecture: 784-512-256-10, dropout 0.2
    numpy_times, torch_times = [], []
    for r in range(rounds):  # alternate the two so that load from other processes hits both alike
        model = NumpyMLP(config, seed=r)
        optimizer = Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(r)
        started = time.perf_counter()
        train_numpy_mlp.train_one_epoch(
            model, optimizer, x, y, batch_size=batch_size, rng=rng, prepare=shifted_digits(2, rng), lr_at=lambda: 1e-3,
            show_progress=False,
        )
        numpy_times.append(time.perf_counter() - started)

        torch.manual_seed(r)
        tmodel = TorchMLP(config)
        generator = torch.Generator().manual_seed(r)
        prepare = make_prepare("torch_mlp", 2, np.random.default_rng(r), generator)
        toptim = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        started = time.perf_counter()
        torch_epoch(
            tmodel,
            x,
            y,
            order=np.random.default_rng(r).permutation(len(y)),
            prepare=prepare,
            optimizer=toptim,
            scheduler=None,
            batch_size=batch_size,
            generator=generator,
            show_progress=False,
        )
        torch_times.append(time.perf_counter() - started)
    per_10k = 10_000 / examples
    numpy_s, torch_s = min(numpy_times) * per_10k, min(torch_times) * per_10k
    return {
        "architecture": config.summary(),
        "batch_size": batch_size,
        "examples": examples,
        "rounds": rounds,
        "data": source,
        "threads": torch.get_num_threads(),
        "numpy_s_per_10k": numpy_s,
        "torch_s_per_10k": torch_s,
        "numpy_s_per_epoch_55k": numpy_s * 5.5,
        "torch_s_per_epoch_55k": torch_s * 5.5,
        "ratio_numpy_over_torch": numpy_s / torch_s,
        "within_limit": numpy_s / torch_s <= RATIO_LIMIT,
        "limit": RATIO_LIMIT,
    }
