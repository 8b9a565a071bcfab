"""The PyTorch twin of the NumPy MLP: same widths, ReLU units, inverted dropout and layer names.

Layer l is ``layers[l]`` (nn.Linear, weight (out, in) = NumPy weights[l].T), so NumPy weights load into it
for a like-for-like comparison.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from models.numpy_mlp import MLPConfig, layer_names


class TorchMLP(nn.Module):
    """Fully connected ReLU network built from an MLPConfig. forward: (N, sizes[0]) -> logits (N, C)."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(config.sizes[:-1], config.sizes[1:]))
        self.dropout = nn.Dropout(config.dropout)
        for layer in self.layers:  # He initialisation, as in the NumPy model
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, OrderedDict[str, torch.Tensor]]:
        """Return (logits (N, C), {layer name: output}); hidden outputs are after ReLU and dropout."""
        acts: OrderedDict[str, torch.Tensor] = OrderedDict()
        names = layer_names(self.config)
        for name, layer in zip(names[:-1], self.layers[:-1]):
            x = self.dropout(torch.relu(layer(x)))
            acts[name] = x
        logits = self.layers[-1](x)
        acts[names[-1]] = logits
        return logits, acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]

    def load_numpy_state(self, state: dict[str, np.ndarray]) -> None:
        """Load ``NumpyMLP.state_dict()`` arrays (weights.<l> (in, out), biases.<l>) into this model."""
        with torch.no_grad():
            for l, layer in enumerate(self.layers):
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(state[f"weights.{l}"].T)))
                layer.bias.copy_(torch.from_numpy(state[f"biases.{l}"]))
