"""Penalties on D's gradients, kept apart from the losses: the trainer adds them with their weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch

Tensor = torch.Tensor


def gradient_penalty(d: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, gen: Optional[torch.Generator] = None,
                     eps: Optional[Tensor] = None) -> Tensor:
    """WGAN-GP: (‖∇D(x̂)‖ − 1)² on random interpolates x̂ between real and fake.

    eps: the interpolation weights (B, 1, ...) when the caller draws them (a data-parallel rank's share of the global batch's).
    """
    if eps is None:
        shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = torch.rand(shape, device=real.device, generator=gen, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def r1_penalty(d: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ‖∇D(x)‖² on real data; the trainer scales it by γ/2."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(1).mean()
