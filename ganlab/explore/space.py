"""The latent coordinates that directions and truncation act on: z itself, or the within-island latent of a prior.

Why a module: with a latent mixture in front of G (ganlab/models/prior.py), z's first coordinate picks an
island and the rest of z~ says where in it. A step along a direction, or a pull toward the mean, made on
raw z would slide z_0 across island borders and jump between modes; made on z~ and mapped back with the
prior's `join`, it stays inside the island, which is what "a direction" and "the mean latent" mean there.
Without a prior the coordinates are z and both maps are the identity.
"""

from __future__ import annotations

from typing import Optional

import torch


def prior_of(g: torch.nn.Module) -> Optional[torch.nn.Module]:
    return getattr(g, "prior", None)


def to_inner(g: torch.nn.Module, z: torch.Tensor) -> tuple[Optional[torch.Tensor], torch.Tensor]:
    """(island per row (B,) or None, the coordinates directions live in (B, dim))."""
    prior = prior_of(g)
    if prior is None:
        return None, z
    return prior.split(z)


def from_inner(g: torch.nn.Module, island: Optional[torch.Tensor], inner: torch.Tensor) -> torch.Tensor:
    """to_inner's inverse: the z G takes."""
    prior = prior_of(g)
    return inner if prior is None or island is None else prior.join(island, inner)


def move(g: torch.nn.Module, z: torch.Tensor, direction: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """(len(steps), dim): z (1, dim) moved by each step times the direction (dim,), in the inner coordinates."""
    island, inner = to_inner(g, z.reshape(1, -1))
    path = inner + steps.reshape(-1, 1).to(inner) * direction.reshape(1, -1).to(inner)
    return from_inner(g, None if island is None else island.expand(len(path)), path)
