"""A plain convolutional network (VGG-style blocks, with or without BatchNorm) built from a frozen config.

One class serves the digit CNN and both photo CNNs; only the config differs. Block k is
``convs_per_block`` x (conv 3x3 -> BatchNorm -> ReLU) followed by 2x2 max-pooling; its output is the
feature map called ``block<k>``. Without BatchNorm (the textbook network, ``batch_norm=False``) each conv
has a bias instead. The head is either flatten -> dropout -> linear, or global average
pooling -> dropout -> linear (the latter keeps the classifier small and suits Grad-CAM).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CNNConfig:
    """in_channels: 1 (grey) or 3 (RGB); image_size: side of the square input; channels: width per block;
    convs_per_block: convolutions before each pooling; stem_stride: stride of the very first conv (2 halves
    the cost of large inputs); head: "flatten" or "gap"; dropout before the last linear layer; batch_norm:
    BatchNorm after every conv (False: conv -> ReLU, as in the first cats-vs-dogs tutorials); flip_average:
    in eval mode, the logits are the mean of the image's and its mirror image's (test-time augmentation: a
    cat seen in a mirror is still a cat; the layers shown stay the image's own)."""

    in_channels: int = 1
    image_size: int = 28
    channels: tuple[int, ...] = (32, 64, 128)
    convs_per_block: int = 1
    stem_stride: int = 1
    head: str = "flatten"
    dropout: float = 0.3
    num_classes: int = 10
    batch_norm: bool = True  # checkpoints from before this field had BatchNorm: the default keeps them loading
    flip_average: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', got {self.head!r}")
        if self.feature_size() < 1:
            raise ValueError(f"image_size {self.image_size} is too small for {len(self.channels)} blocks")

    def summary(self) -> str:
        """One line, e.g. "CNN 3x[conv3x3-BN-ReLU x1, maxpool] (32-64-128), flatten, dropout 0.3 -> 10"."""
        head = "global avg pool" if self.head == "gap" else "flatten"
        conv = "conv3x3-BN-ReLU" if self.batch_norm else "conv3x3-ReLU"
        return (
            f"CNN {len(self.channels)}x[{conv} x{self.convs_per_block}, maxpool] "
            f"({'-'.join(map(str, self.channels))}), {head}, dropout {self.dropout:g} -> {self.num_classes}"
            + (f", stride-{self.stem_stride} stem" if self.stem_stride > 1 else "")
            + f", input {self.in_channels}x{self.image_size}x{self.image_size}"
            + (", answers averaged with its mirror image" if self.flip_average else "")
        )

    def feature_size(self) -> int:
        """Side of the last block's feature map."""
        size = -(-self.image_size // self.stem_stride)
        for _ in self.channels:
            size //= 2
        return size


def layer_names(config: CNNConfig) -> list[str]:
    return [f"block{i}" for i in range(1, len(config.channels) + 1)] + ["logits"]


class CNN(nn.Module):
    """forward: (N, in_channels, image_size, image_size) normalised floats -> logits (N, num_classes)."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        blocks = []
        c_in = config.in_channels
        for k, c_out in enumerate(config.channels):
            layers: list[nn.Module] = []
            for j in range(config.convs_per_block):
                stride = config.stem_stride if (k == 0 and j == 0) else 1
                layers.append(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not config.batch_norm))
                if config.batch_norm:  # BatchNorm has its own shift, so the conv needs no bias
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.ReLU(inplace=True))
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(config.dropout)
        side = config.feature_size()
        n_features = c_in if config.head == "gap" else c_in * side * side
        self.fc = nn.Linear(n_features, config.num_classes)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) from the last block's feature map (N, C, h, w)."""
        if self.config.head == "gap":
            features = features.mean(dim=(2, 3))  # (N, C)
        return self.fc(self.dropout(features.flatten(1)))

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, OrderedDict[str, torch.Tensor]]:
        """Return (logits, {"block1": (N, C1, H1, W1), ..., "logits": (N, num_classes)})."""
        acts: OrderedDict[str, torch.Tensor] = OrderedDict()
        mirrored = x.flip(-1) if self.config.flip_average and not self.training else None
        for name, block in zip(layer_names(self.config), self.blocks):
            x = block(x)
            acts[name] = x
        logits = self.head(x)
        if mirrored is not None:
            for block in self.blocks:
                mirrored = block(mirrored)
            logits = (logits + self.head(mirrored)) / 2
        acts["logits"] = logits
        return logits, acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]
