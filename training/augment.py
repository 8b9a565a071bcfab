"""Training-time augmentation of whole torch mini-batches at once: a random affine (the digit models, the Small
Pet CNN) and CutMix. The Pet CNN's photo-by-photo transforms are torchvision's (training/train_pet_cnn.py); the
NumPy MLPs' live with their training loops (models/numpy_training.py, training/train_pet_mlp.py).

Evaluation and inference never augment: the same input always gives the same output.
"""

from __future__ import annotations

import math


def random_affine(
    x,  # torch.Tensor (N, C, H, W)
    generator,  # torch.Generator
    *,
    degrees: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    aspect: tuple[float, float] = (1.0, 1.0),
    translate: float = 0.0,
    flip: bool = False,
    fill: float = 0.0,
    size: int | None = None,
):
    """A random rotation / zoom / aspect change / translation / horizontal flip per image, one grid_sample.

    scale > 1 zooms in (a crop covering 1/scale of the side, like a random resized crop); translate is a
    fraction of the side; ``fill`` is the value of pixels sampled from outside (in normalised units);
    ``size``: the side of the output (default: the input's), e.g. smaller crops for progressive resizing.
    """
    import torch
    import torch.nn.functional as F

    n = x.shape[0]

    def uniform(lo: float, hi: float):
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = uniform(-degrees, degrees) * (math.pi / 180)
    zoom = torch.exp(uniform(math.log(scale[0]), math.log(scale[1])))
    ratio = torch.exp(uniform(math.log(aspect[0]), math.log(aspect[1])))
    sx, sy = 1 / (zoom * ratio.sqrt()), 1 / (zoom / ratio.sqrt())  # output -> input sampling scales
    if flip:
        sx = sx * torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos * sx, -sin * sy, tx], 1), torch.stack([sin * sx, cos * sy, ty], 1)], 1
    )  # (N, 2, 3)
    side = size or x.shape[-1]
    grid = F.affine_grid(theta.to(x.dtype), [*x.shape[:2], side, side], align_corners=False)
    out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + fill


def cutmix(x, generator, alpha: float = 1.0):
    """CutMix (Yun et al., 2019): paste a random box of another image of the batch into each image.

    x: (N, C, H, W). Returns (mixed x, partner (N,) indices into the batch, lam): the loss of a mixed image is
    lam * loss(its own label) + (1 - lam) * loss(its partner's label), lam being the share of its own pixels.
    """
    import torch

    n, _, h, w = x.shape
    lam = float(torch.distributions.Beta(alpha, alpha).sample())  # torch's global generator, seeded per run
    cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = (int(v) for v in torch.randint(0, 10_000, (2,), generator=generator) % torch.tensor([h, w]))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    partner = torch.randperm(n, generator=generator)
    x = x.clone()
    x[:, :, top:bottom, left:right] = x[partner, :, top:bottom, left:right]
    return x, partner, 1.0 - (bottom - top) * (right - left) / (h * w)
