"""The from-scratch NumPy MLP: gradients against finite differences and torch autograd, and no torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from models.numpy_mlp import Adam, MLPConfig, NumpyMLP, log_softmax, softmax
from tests.conftest import ROOT


def small_model(dropout: float = 0.0, weight_decay: float = 0.0, seed: int = 0) -> NumpyMLP:
    model = NumpyMLP(MLPConfig(sizes=(7, 6, 5, 4), dropout=dropout, weight_decay=weight_decay), seed, np.float64)
    # Non-zero biases: with zero biases a sample whose units were all dropped has z exactly 0, on ReLU's
    # kink, where a finite difference and the (sub)gradient legitimately disagree.
    rng = np.random.default_rng(seed + 100)
    for b in model.biases:
        b[:] = rng.uniform(0.05, 0.2, b.shape)
    return model


def batch(seed: int = 1, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 7)), rng.integers(0, 4, n)


def test_importing_numpy_mlp_does_not_import_torch() -> None:
    code = "import sys; import models.numpy_mlp; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("dropout,weight_decay", [(0.0, 0.0), (0.0, 0.1), (0.3, 0.05)])
def test_gradients_match_finite_differences(dropout: float, weight_decay: float) -> None:
    model = small_model(dropout, weight_decay)
    x, y = batch()

    def loss() -> float:
        # A fresh generator with the same seed draws the same dropout masks every call.
        return model.loss_and_grads(x, y, np.random.default_rng(5) if dropout else None)[0]

    _, _, grads = model.loss_and_grads(x, y, np.random.default_rng(5) if dropout else None)
    eps = 1e-6
    for param, grad in zip(model.parameters(), grads):
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            old = param[i]
            param[i] = old + eps
            up = loss()
            param[i] = old - eps
            down = loss()
            param[i] = old
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_gradients_match_torch_autograd() -> None:
    model = small_model(weight_decay=0.01)
    x, y = batch(n=16)
    loss, _, grads = model.loss_and_grads(x, y)
    params = [torch.tensor(p, requires_grad=True) for p in model.parameters()]
    h = torch.tensor(x)
    for l in range(0, len(params), 2):
        h = h @ params[l] + params[l + 1]
        if l < len(params) - 2:
            h = torch.relu(h)
    reference = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    reference = reference + 0.5 * 0.01 * sum((w**2).sum() for w in params[::2])
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-10)
    for grad, p in zip(grads, params):
        np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_softmax_is_stable_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [-1e30, -1e30, -1e30]])
    p = softmax(logits)
    assert np.isfinite(p).all() and np.allclose(p.sum(1), 1)
    assert np.isfinite(log_softmax(logits)[0, :2]).all()


def test_dropout_only_in_training_and_inverted() -> None:
    model = NumpyMLP(MLPConfig(sizes=(7, 200, 4), dropout=0.5), 0, np.float64)
    x, _ = batch()
    _, acts_eval, masks_eval = model.forward(x)
    _, acts_train, masks_train = model.forward(x, np.random.default_rng(0))
    assert masks_eval == [None]
    kept = masks_train[0] > 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(acts_train[1][kept], 2 * acts_eval[1][kept])


def test_adam_learns_a_separable_problem() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 7))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = small_model()
    opt = Adam(model.parameters(), lr=1e-2)
    first = model.loss_and_grads(x, y)[0]
    for _ in range(200):
        loss, _, grads = model.loss_and_grads(x, y)
        opt.step(grads)
    assert loss < 0.2 * first
    assert (model.predict_proba(x).argmax(1) == y).mean() > 0.95


def test_state_dict_rejects_wrong_shapes() -> None:
    model = small_model()
    state = model.state_dict()
    state["weights.0"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="weights.0"):
        model.load_state_dict(state)


def test_input_gradient_matches_finite_differences() -> None:
    model = small_model()
    x, _ = batch()
    upstream = np.random.default_rng(3).standard_normal((len(x), 4))  # any dL/dlogits
    grad = model.input_gradient(x, upstream)

    def loss(inputs: np.ndarray) -> float:
        return float((model.forward(inputs)[0][-1] * upstream).sum())

    eps, numeric = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (loss(up) - loss(down)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_input_gradient_matches_torch_autograd() -> None:
    from models.torch_mlp import TorchMLP

    model = small_model()
    x, _ = batch(n=5)
    upstream = np.random.default_rng(4).standard_normal((len(x), 4))
    twin = TorchMLP(model.config).double().eval()
    twin.load_numpy_state(model.state_dict())
    inputs = torch.tensor(x, requires_grad=True)
    (twin(inputs) * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(model.input_gradient(x, upstream), inputs.grad.numpy(), rtol=1e-9, atol=1e-12)
