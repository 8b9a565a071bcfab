"""What the first layer learned: each hidden unit's or filter's weights as a small picture."""

from __future__ import annotations

import numpy as np

from app.logic.images import apply_colormap, enlarge
from models.classifiers import Classifier
from models.numpy_mlp import NumpyMLP


def first_layer_weights(clf: Classifier) -> np.ndarray:
    """The first layer's weights, one picture per unit or filter.

    MLPs: (units, 28, 28) on digits or (units, S, S, 3) on photos, each hidden unit's weights over the input
    pixels. CNNs: (filters, k, k) for grey input or (filters, k, k, 3) for RGB: each first-layer kernel.
    """
    model = clf.model
    if isinstance(model, NumpyMLP):
        w = np.asarray(model.weights[0]).T  # (784, 512) stored fan-in first -> (512, 784)
    elif hasattr(model, "layers"):  # the PyTorch MLP
        w = model.layers[0].weight.detach().numpy()  # (512, 784), torch's (out, in)
    else:
        w = model.blocks[0][0].weight.detach().numpy()  # (filters, in_channels, k, k)
        return w[:, 0] if w.shape[1] == 1 else w.transpose(0, 2, 3, 1)
    side = getattr(clf, "input_size", 28)  # photo models say theirs; digits are 28 x 28
    channels = w.shape[1] // side**2
    return w.reshape(len(w), side, side) if channels == 1 else w.reshape(len(w), side, side, channels)


def weight_images(weights: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` weight pictures as uint8 RGB, each on its own symmetric scale around zero.

    Grey kernels go through the blue-white-red map (blue negative, red positive); RGB kernels are shown in
    their own colours, mid-grey = 0. Each picture is scaled by its own largest |weight| so faint units show.
    """
    out = []
    for w in weights[:count]:
        top = float(np.abs(w).max()) or 1.0
        if w.ndim == 2:
            rgb = apply_colormap(0.5 + 0.5 * w / top, "diverging")
        else:
            rgb = np.rint((0.5 + 0.5 * w / top) * 255).astype(np.uint8)
        out.append(enlarge(rgb, 84))
    return out
