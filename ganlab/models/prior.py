"""Latent islands: z's first coordinate picks one of K learned components (a mixture prior, after DeLiGAN).

Why: a continuous G fed a connected latent (one Gaussian) cannot make a disconnected distribution
without bridges. Between any two modes it has to pass through the gap, and the samples it puts there are
the misses of the 25-Gaussian grid (Khayatkhoei et al. 2018, "Disconnected manifold learning"). With K
islands, G can send each island to its own mode and leave the gaps empty.

DeLiGAN (Gurumurthy et al. 2017) learns a mean and scale per component in z itself. In a 2-D latent
25 such components overlap, and G cannot tell them apart (grid25 seed 0: 81-96% HQ). Here G is told
the island outright, as a one-hot code next to the within-island latent: its first layer then holds
a learned offset per island (the component mean, in G's first hidden space), and a learned per-island
scale sigma_k sizes z~. The same shape as a conditional G, with labels nobody gave it.

The islands are carved out of the ordinary N(0, I) latent, so seeds, the fixed preview batch, the
explorer's interpolation and seed arithmetic keep working on the same z:

  u = Phi(z_0) picks island k = floor(K u); the rest of u, K u - k, is uniform again, so
  z~_0 = Phi^-1(K u - k) is a fresh N(0, 1) independent of k; z~ = (z~_0, z_1, ...) ~ N(0, I).
  G sees [sigma_k * z~, one_hot(k)], with the K scales learned along with G.

The map is measure-preserving (every island has probability 1/K) and discontinuous at the K - 1 slab
borders of z_0: that is the point. An interpolation in the explorer that crosses a border jumps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import one_hot

# Each island starts small (G first sees its code, barely moved by z~), so an island lands on one mode
# before it grows. Started at 1.0, the islands overlapped in G's output and bridged the modes as one
# Gaussian does (grid25 seed 0: 89% HQ); 0.1 and 0.3 gave 25 separate islands and 100% (docs/QUALITY.md).
INIT_SCALE = 0.1
# The bound of each island's column in G's first layer (spread_islands): what nn.Linear draws at K = 100
ISLAND_INIT = 0.1
# From this many islands G's first layer looks the island up (IslandLinear); below it the one-hot matmul is as fast
LOOKUP_MIN_ISLANDS = 256


class LatentMixture(nn.Module):
    """z (B, dim) ~ N(0, I) -> [sigma_k * z~, one_hot(k)] (B, dim + K): the island and where in it."""

    def __init__(self, dim: int, components: int, init_scale: float = INIT_SCALE):
        super().__init__()
        self.dim, self.components = int(dim), int(components)
        self.out_dim = self.dim + self.components
        self.log_sigma = nn.Parameter(torch.full((components, dim), math.log(init_scale)))

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(island index (B,), the N(0, I) latent within the island (B, dim))."""
        z = z.float()  # the CDF arithmetic needs fp32 even under bf16 autocast
        u = 0.5 * (1.0 + torch.erf(z[:, 0] / math.sqrt(2.0)))
        scaled = u * self.components
        k = scaled.floor().clamp_(0, self.components - 1)
        v = (scaled - k).clamp(1e-6, 1.0 - 1e-6)
        z0 = math.sqrt(2.0) * torch.erfinv(2.0 * v - 1.0)
        return k.long(), torch.cat([z0[:, None], z[:, 1:]], 1)

    def join(self, k: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
        """split's inverse: the z whose island is k (B,) and whose within-island latent is inner (B, dim).

        Moves made on the within-island latent (a latent direction, truncation) come back to z this way
        and never cross an island border.
        """
        inner = inner.float()
        v = 0.5 * (1.0 + torch.erf(inner[:, 0] / math.sqrt(2.0)))
        u = ((k.to(inner.dtype) + v) / self.components).clamp(1e-7, 1.0 - 1e-7)
        z0 = math.sqrt(2.0) * torch.erfinv(2.0 * u - 1.0)
        return torch.cat([z0[:, None], inner[:, 1:]], 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k, scaled = self.scaled(z)
        return torch.cat([scaled, one_hot(k, self.components, scaled.dtype)], 1)

    def scaled(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(island (B,), sigma_k * z~ (B, dim)): forward's output without the one-hot code (IslandInput)."""
        k, inner = self.split(z)
        return k, self.log_sigma[k].exp() * inner

    def extra_repr(self) -> str:
        return f"dim={self.dim}, components={self.components}"


def spread_islands(first: nn.Linear, start: int, count: int) -> None:
    """Redraw the island code's columns of G's first layer from U(-ISLAND_INIT, ISLAND_INIT) when nn.Linear's own
    bound, 1 / sqrt(in_features), is below it: that bound shrinks as islands are added (0.03 at K = 1,000), and
    islands that start alike leave for the same mode together. Fewer islands (K < ~100) keep nn.Linear's draw."""
    if first.in_features ** -0.5 < ISLAND_INIT:
        with torch.no_grad():
            first.weight[:, start:start + count].uniform_(-ISLAND_INIT, ISLAND_INIT)


@dataclass
class IslandInput:
    """What a G with islands hands its first layer: the dense columns (scaled z~, then any class code) and the
    island of each row, instead of a (B, dim + K + classes) tensor whose K code columns are one-hot."""

    dense: torch.Tensor  # (B, dim + classes)
    island: torch.Tensor  # (B,) int64


class IslandLinear(nn.Linear):
    """G's first Linear when its input carries an island code in columns [start, start + count).

    Why: the code's columns are a row lookup, not a (B, K) matmul. With the point recipe's 2,000 islands that
    matmul (and building the one-hot it multiplies) was most of a point G's forward and backward: 512 x 2,002 x
    256 multiply-adds per call, against 512 x 256 x 256 for the next layer. Given an IslandInput, the island's
    weight column is picked instead (B x out). The weight stays nn.Linear's (out, in), so checkpoints, SeFa's
    factorisation of it and GANSpace's hook on this layer's output are unchanged; a plain tensor (the dense
    [scaled z~, one-hot island, class] layout) takes nn.Linear's own path and gives the same numbers to rounding.
    """

    def __init__(self, in_features: int, out_features: int, start: int, count: int):
        super().__init__(in_features, out_features)
        self.start, self.count = int(start), int(count)

    def forward(self, x) -> torch.Tensor:
        if not isinstance(x, IslandInput):
            return super().forward(x)
        s, e, w = self.start, self.start + self.count, self.weight
        rest_w = w[:, :s] if e == self.in_features else torch.cat([w[:, :s], w[:, e:]], 1)
        return F.linear(x.dense, rest_w, self.bias) + w[:, s:e].t().index_select(0, x.island)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, islands=[{self.start}, {self.start + self.count})"
