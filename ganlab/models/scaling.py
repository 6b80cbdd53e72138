"""Standardised coordinates for point data: G and D work on the data scaled to zero mean and unit std.

Why: a point recipe that must hold on any data cannot know its scale. A ring of radius 1 and a 7x7 grid
spanning 12 units ask different things of the same nets: Adam moves weights by about lr whatever the data's
size, R1's pull depends on the units of x, and a ReLU net's initial output sits near the origin at a scale of
about 1. Scaled by the data's own mean and std (measured once from the training points), every point set
looks alike to the nets, while everything outside them (samples, metrics, the explorer, D's surface on the
Monitor page) keeps seeing the data's own coordinates:

  G(z) = mean + std * G_net(z)       (G_net learns the standardised data)
  D(x) = D_net((x - mean) / std)     (D sees standardised points)

The mean and std are buffers of G and D, so checkpoints carry them and a G rebuilt from its file alone
makes the same points. Off (the identity) unless RunConfig.standardize is set; images never use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch
import torch.nn as nn

MIN_STD = 1e-6  # a constant coordinate (zero spread) is left unscaled instead of divided by zero


class Affine(nn.Module):
    """x * scale + shift per coordinate, with fixed (not learned) scale and shift."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("shift", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)

    def set(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        with torch.no_grad():
            self.scale.copy_(scale)
            self.shift.copy_(shift)

    def extra_repr(self) -> str:
        return f"dim={len(self.scale)}"


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-coordinate mean and std (N, D) -> (D,), (D,) in float64 for the sums, a too-small std raised to 1."""
    x = x.detach().flatten(1).double()
    mean, std = x.mean(0), x.std(0)
    std = torch.where(std > MIN_STD, std, torch.ones_like(std))
    return mean.float(), std.float()


def fit(g: nn.Module, d: nn.Module, x: torch.Tensor) -> None:
    """Set G's output map and D's input map from the training points x: G un-standardises, D standardises."""
    mean, std = moments(x)
    g_out: Optional[Affine] = getattr(g, "unscale", None)
    d_in: Optional[Affine] = getattr(d, "scale_in", None)
    if isinstance(g_out, Affine):
        g_out.set(std, mean)
    if isinstance(d_in, Affine):
        d_in.set(1.0 / std, -mean / std)
    if isinstance(g_out, Affine):
        spread_start(g)


# G's first samples, in standardised units: centred on the data's mean with this std. PyTorch's init leaves a
# point G's output ~0.0075 wide, all islands in one spot at the data's mean: on a ring that spot is the empty
# centre, the islands left it together and the 5-mode ring collapsed onto 1-4 of its modes (lsgan: 7 of 8 screens).
# Started 0.1 wide, each island leaves in its own direction (ring:5: 5/5 modes in all 10 runs of the study); 0.3 to 1.0 started
# G as wide as the modes' grid, D could not find the fakes among the reals and the 7x7 grid stayed a cloud (2-37 of
# 49 modes). docs/QUALITY.md, "The ninth session".
START_SPREAD = 0.1


def spread_start(g: nn.Module, n: int = 2048) -> None:
    """Rescale G's last Linear so that its first standardised samples have mean 0 and std START_SPREAD.

    A fixed latent batch from its own generator: the global RNG (and so every later draw of the run) is untouched.
    """
    first_input = getattr(g, "first_input", None)  # MLPGenerator: what its first layer takes
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    if first_input is None or not linears or getattr(g, "num_classes", 0):
        return
    last = linears[-1]
    z = torch.randn(n, g.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = g.net(first_input(z, None)).flatten(1)
        scale = START_SPREAD / out.std(0).clamp_min(1e-8)
        last.weight.mul_(scale[:, None])
        last.bias.sub_(out.mean(0)).mul_(scale)


def standardised(d: nn.Module) -> Optional[Affine]:
    """D's input map when it standardises its input, else None."""
    a = getattr(d, "scale_in", None)
    return a if isinstance(a, Affine) else None


def in_d_coordinates(d: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor],
                     x: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """(fn as a function of the standardised points, the standardised x): a gradient penalty measured where D's
    net works, so its weight means the same on every data scale. The identity when D does not standardise."""
    a = standardised(d)
    if a is None:
        return fn, x
    return (lambda s: fn((s - a.shift) / a.scale)), a(x)
