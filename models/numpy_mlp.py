"""A multilayer perceptron written from scratch in NumPy: forward pass, hand-derived backward pass, Adam.

This module imports NumPy and the standard library only (a test checks that importing it does not import
torch). Names follow the maths: for layer l, ``zs[l] = activations[l] @ weights[l] + biases[l]`` and
``activations[l + 1] = relu(zs[l])``; the last ``zs`` entry is the logits. Weights are stored as
(fan_in, fan_out) so a mini-batch of row vectors multiplies from the left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MLPConfig:
    """Architecture and regularisation of the MLP, shared by the NumPy and the PyTorch versions.

    sizes: layer widths from input to output, e.g. (784, 512, 256, 10).
    dropout: probability of zeroing a hidden unit during training (inverted dropout), 0 disables it.
    weight_decay: L2 coefficient lambda; the loss gains 0.5 * lambda * sum(W ** 2) over all weight matrices.
    """

    sizes: tuple[int, ...] = (784, 512, 256, 10)
    dropout: float = 0.2
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"sizes must list at least two positive widths, got {self.sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))

    def summary(self) -> str:
        """One line, e.g. "MLP 784-512-256-10, ReLU, dropout 0.2"."""
        text = "MLP " + "-".join(map(str, self.sizes)) + ", ReLU"
        if self.dropout:
            text += f", dropout {self.dropout:g}"
        if self.weight_decay:
            text += f", L2 {self.weight_decay:g}"
        return text


def layer_names(config: MLPConfig) -> list[str]:
    """Names of the layer outputs, shared by both MLPs: hidden1..hiddenK, then logits."""
    return [f"hidden{i}" for i in range(1, len(config.sizes) - 1)] + ["logits"]


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, C) logits, stable for large magnitudes (subtract the row maximum)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits; rows sum to 1."""
    return np.exp(log_softmax(logits))


class NumpyMLP:
    """Fully connected ReLU network with a softmax cross-entropy loss.

    weights[l]: (sizes[l], sizes[l+1]); biases[l]: (sizes[l+1],). He initialisation suits ReLU units.
    """

    def __init__(self, config: MLPConfig, seed: int = 0, dtype: type = np.float32) -> None:
        self.config = config
        rng = np.random.default_rng(seed)
        self.weights = [
            (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype)
            for n_in, n_out in zip(config.sizes[:-1], config.sizes[1:])
        ]
        self.biases = [np.zeros(n_out, dtype=dtype) for n_out in config.sizes[1:]]

    # -- parameters -----------------------------------------------------------------------------------
    def parameters(self) -> list[np.ndarray]:
        """All parameter arrays, in the order [W0, b0, W1, b1, ...]; optimisers update them in place."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays named ``weights.<l>`` and ``biases.<l>``, for checkpoints."""
        state = {f"weights.{i}": w for i, w in enumerate(self.weights)}
        state.update({f"biases.{i}": b for i, b in enumerate(self.biases)})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays from ``state`` (as written by state_dict), checking names and shapes."""
        expected = self.state_dict()
        if set(state) != set(expected):
            raise ValueError(f"parameter names differ: expected {sorted(expected)}, got {sorted(state)}")
        for name, current in expected.items():
            if state[name].shape != current.shape:
                raise ValueError(f"{name}: expected shape {current.shape}, got {state[name].shape}")
        self.weights = [np.array(state[f"weights.{i}"], dtype=w.dtype) for i, w in enumerate(self.weights)]
        self.biases = [np.array(state[f"biases.{i}"], dtype=b.dtype) for i, b in enumerate(self.biases)]

    # -- forward and backward -------------------------------------------------------------------------
    def forward(
        self, x: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]:
        """Run the network on a mini-batch.

        x: (N, sizes[0]) floats, already normalised. rng: given only in training, it draws dropout masks.
        Returns (zs, activations, masks): zs[l] is (N, sizes[l+1]) pre-activations (zs[-1] = logits);
        activations[0] = x and activations[l+1] = relu(zs[l]) * masks[l] for hidden layers;
        masks[l] is the inverted-dropout mask (values 0 or 1/(1-p)) or None.
        """
        p = self.config.dropout if rng is not None else 0.0
        activations, zs, masks = [x], [], []
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = activations[-1] @ w + b
            zs.append(z)
            if l == last:
                break
            a = relu(z)  # a new array: zs[l] must survive for the backward pass
            mask = None
            if p > 0:
                mask = (rng.random(a.shape) >= p).astype(a.dtype)
                mask /= 1.0 - p
                a *= mask  # in place: same values as a * mask, one allocation fewer
            masks.append(mask)
            activations.append(a)
        return zs, activations, masks

    def loss(self, logits: np.ndarray, y: np.ndarray) -> float:
        """Mean softmax cross-entropy of (N, C) logits against integer labels y (N,), plus the L2 term."""
        data_loss = -log_softmax(logits)[np.arange(len(y)), y].mean()
        if not self.config.weight_decay:  # skip squaring every weight for a term that is 0
            return float(data_loss)
        l2 = 0.5 * self.config.weight_decay * sum(float((w * w).sum()) for w in self.weights)
        return float(data_loss + l2)

    def backward(
        self,
        zs: list[np.ndarray],
        activations: list[np.ndarray],
        masks: list[np.ndarray | None],
        y: np.ndarray,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of ``loss`` with respect to every weight and bias, by the chain rule.

        Takes what ``forward`` returned and the labels y (N,). Returns (grad_weights, grad_biases), shaped
        like weights and biases. dL/dlogits = (softmax(logits) - onehot(y)) / N; then for each layer,
        dW = a_prev.T @ delta, db = sum(delta), and delta_prev = (delta @ W.T) * relu'(z_prev) * mask.
        """
        n = len(y)
        delta = softmax(zs[-1])
        delta[np.arange(n), y] -= 1.0
        delta /= n  # (N, C)
        grad_w, grad_b, _ = self.backprop(zs, activations, masks, delta)
        if self.config.weight_decay:
            for g, w in zip(grad_w, self.weights):
                g += self.config.weight_decay * w
        return grad_w, grad_b

    def backprop(
        self,
        zs: list[np.ndarray],
        activations: list[np.ndarray],
        masks: list[np.ndarray | None],
        delta: np.ndarray,
        to_input: bool = False,
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
        """The chain rule from ``delta`` = dL/dlogits (N, C) back through every layer.

        Returns (grad_weights, grad_biases, grad_input): per layer dW = a_prev.T @ delta and db = sum(delta),
        with delta_prev = (delta @ W.T) * relu'(z_prev) * mask; grad_input is dL/dx (N, sizes[0]) when
        ``to_input`` (one more product with the first weights), else None.
        """
        grad_w: list[np.ndarray] = [np.empty(0)] * len(self.weights)
        grad_b: list[np.ndarray] = [np.empty(0)] * len(self.biases)
        for l in range(len(self.weights) - 1, -1, -1):
            grad_w[l] = activations[l].T @ delta
            grad_b[l] = delta.sum(axis=0)
            if l == 0:
                break
            delta = delta @ self.weights[l].T
            delta *= zs[l - 1] > 0  # relu'(z)
            if masks[l - 1] is not None:
                delta *= masks[l - 1]
        return grad_w, grad_b, (delta @ self.weights[0].T if to_input else None)

    def input_gradient(self, x: np.ndarray, dlogits: np.ndarray) -> np.ndarray:
        """Gradient with respect to the input x (N, sizes[0]) of sum(dlogits * logits), without dropout:
        pass dL/dlogits (N, C) of any loss L to get dL/dx (N, sizes[0])."""
        zs, activations, masks = self.forward(x)
        return self.backprop(zs, activations, masks, dlogits, to_input=True)[2]

    def loss_and_grads(
        self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[float, np.ndarray, list[np.ndarray]]:
        """One forward and backward pass. Returns (loss, logits (N, C), grads in parameters() order)."""
        zs, activations, masks = self.forward(x, rng)
        grad_w, grad_b = self.backward(zs, activations, masks, y)
        grads = [g for pair in zip(grad_w, grad_b) for g in pair]
        return self.loss(zs[-1], y), zs[-1], grads

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) for normalised inputs x (N, sizes[0]), without dropout."""
        return softmax(self.forward(x)[0][-1])


class Adam:
    """Adam (Kingma & Ba, 2015), updating a list of NumPy arrays in place.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr * m_hat / (sqrt(v_hat) + eps).
    """

    def __init__(
        self,
        params: list[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        # Scratch space, reused every step: the update runs entirely in place (no temporaries), which
        # roughly halves its time on MNIST-sized layers. Arithmetic stays in the parameters' dtype
        # (float32), so results agree with the textbook expression up to float32 rounding.
        self._buffers = [(np.empty_like(p), np.empty_like(p)) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        b1, b2 = self.betas
        self.t += 1
        # Fold the bias corrections into the step size, as in the paper's efficient form.
        step_size = float(self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t))  # a Python float: no upcast
        for p, g, m, v, (a, b) in zip(self.params, grads, self.m, self.v, self._buffers):
            m *= b1
            np.multiply(g, 1 - b1, out=a)
            m += a  # m = b1 m + (1 - b1) g
            v *= b2
            np.multiply(g, g, out=a)
            a *= 1 - b2
            v += a  # v = b2 v + (1 - b2) g^2
            np.sqrt(v, out=a)
            a += self.eps
            np.multiply(m, step_size, out=b)
            b /= a
            p -= b  # p -= step_size * m / (sqrt(v) + eps)
