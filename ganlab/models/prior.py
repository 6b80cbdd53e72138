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

import torch
import torch.nn as nn

from .common import one_hot

# Each island starts small (G first sees its code, barely moved by z~), so an island lands on one mode
# before it grows. Started at 1.0, the islands overlapped in G's output and bridged the modes as one
# Gaussian does (grid25 seed 0: 89% HQ); 0.1 and 0.3 gave 25 separate islands and 100% (docs/QUALITY.md).
INIT_SCALE = 0.1


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
        k, inner = self.split(z)
        code = one_hot(k, self.components, inner.dtype)
        return torch.cat([self.log_sigma[k].exp() * inner, code], 1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, components={self.components}"
