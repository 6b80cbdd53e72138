"""Fully connected G and D (d2l's linear G, the seeds' MLP GANs), for points and flattened images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn as nn

from .common import ACTIVATIONS, Chain, EnergyD, g_input, g_input_width, one_hot
from .prior import LOOKUP_MIN_ISLANDS, IslandInput, IslandLinear, LatentMixture, spread_islands
from .scaling import Affine


def mlp(sizes: Sequence[int], activation: str, norm: str, *, last_plain: bool = True) -> Chain:
    """Linear layers with norm + activation between them; the last Linear stays bare."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_plain and i == len(sizes) - 2:
            break
        if norm == "batch":
            layers.append(nn.BatchNorm1d(b))
        elif norm == "layer":
            layers.append(nn.LayerNorm(b))
        layers.append(ACTIVATIONS[activation]())
    return Chain(*layers)


class MLPGenerator(nn.Module):
    """z (B, latent_dim) [+ one-hot label] -> sample (B, *shape)."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...], hidden: Sequence[int], activation: str,
                 norm: str, out_act: nn.Module, num_classes: int = 0, prior: Optional[nn.Module] = None,
                 standardize: bool = False):
        super().__init__()
        self.latent_dim, self.shape, self.num_classes = latent_dim, tuple(shape), num_classes
        self.prior = prior  # e.g. LatentMixture: reshapes N(0, I) before the first layer
        dim = int(torch.tensor(shape).prod())
        self.net = Chain(mlp([g_input_width(latent_dim, num_classes, prior), *hidden, dim], activation, norm), out_act)
        if isinstance(prior, LatentMixture):
            first: nn.Linear = self.net[0][0]
            if prior.components >= LOOKUP_MIN_ISLANDS:  # the island code's columns are a lookup (prior.IslandLinear)
                fast = IslandLinear(first.in_features, first.out_features, prior.dim, prior.components)
                fast.load_state_dict(first.state_dict())
                self.net[0][0] = first = fast
            spread_islands(first, prior.dim, prior.components)
        self.unscale = Affine(dim) if standardize else None  # standardised -> data coordinates (models/scaling.py)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert z.shape[1:] == (self.latent_dim,), f"z must be (B, {self.latent_dim}), got {tuple(z.shape)}"
        out = self.net(self.first_input(z, y))
        return (out if self.unscale is None else self.unscale(out)).view(-1, *self.shape)

    def first_input(self, z: torch.Tensor, y: Optional[torch.Tensor]):
        """What the first layer takes: an IslandInput when it looks the island up (prior.IslandLinear), else the
        dense [z or what the prior makes of it, one-hot class]."""
        if not isinstance(self.net[0][0], IslandLinear):
            return g_input(z, y, self.num_classes, self.prior)
        k, scaled = self.prior.scaled(z)
        c = one_hot(y, self.num_classes, scaled.dtype)
        return IslandInput(scaled if c is None else torch.cat([scaled, c], 1), k)


class MLPDiscriminator(nn.Module):
    """sample (B, *shape) [+ one-hot label] -> raw score (B,)."""

    def __init__(self, shape: tuple[int, ...], hidden: Sequence[int], activation: str, norm: str,
                 num_classes: int = 0, standardize: bool = False):
        super().__init__()
        self.shape, self.num_classes = tuple(shape), num_classes
        dim = int(torch.tensor(shape).prod())
        self.net = mlp([dim + num_classes, *hidden, 1], activation, norm)
        self.scale_in = Affine(dim) if standardize else None  # data -> standardised coordinates (models/scaling.py)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert x.shape[1:] == self.shape, f"x must be (B, {self.shape}), got {tuple(x.shape)}"
        h = x.flatten(1) if self.scale_in is None else self.scale_in(x.flatten(1))
        c = one_hot(y, self.num_classes, h.dtype)
        if c is not None:
            h = torch.cat([h, c], 1)
        return self.net(h).view(-1)


# GANSpace's early layer: the first Linear's output, linear in z (Chain -> mlp Chain -> Linear)
MLP_EARLY_LAYER = "net.0.0"


def mlp_latent_weight(g: MLPGenerator) -> torch.Tensor:
    """(out, input width): the first Linear's weight, the map SeFa factorises (columns: z or the prior's output, then classes)."""
    return g.net[0][0].weight.detach()


def mlp_energy_d(shape: tuple[int, ...], hidden: Sequence[int], activation: str, norm: str) -> EnergyD:
    """EBGAN auto-encoder D: x -> hidden... -> code -> mirror -> x'."""
    dim = int(torch.tensor(shape).prod())
    enc = nn.Sequential(nn.Flatten(), mlp([dim, *hidden], activation, norm, last_plain=False))
    dec = nn.Sequential(mlp([*reversed(hidden), dim], activation, norm), nn.Unflatten(1, tuple(shape)))
    return EnergyD(enc, dec)
