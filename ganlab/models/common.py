"""Pieces shared by the architectures: activations, label conditioning, spectral norm, energy D."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as _torch_module  # the global hook registries

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "gelu": lambda: nn.GELU(),
    "tanh": lambda: nn.Tanh(),
    "sigmoid": lambda: nn.Sigmoid(),
}


# layer type -> the function its forward calls (what Chain runs without the module-call machinery)
_DIRECT = {
    nn.Linear: lambda m, h: F.linear(h, m.weight, m.bias),
    nn.ReLU: lambda m, h: F.relu(h),
    nn.LeakyReLU: lambda m, h: F.leaky_relu(h, m.negative_slope),
    nn.GELU: lambda m, h: F.gelu(h, approximate=m.approximate),
    nn.Tanh: lambda m, h: torch.tanh(h),
    nn.Sigmoid: lambda m, h: torch.sigmoid(h),
    nn.Identity: lambda m, h: h,
}


def _has_hooks(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks)


def _global_hooks() -> bool:
    mod = _torch_module
    return bool(mod._global_forward_hooks or mod._global_forward_pre_hooks or mod._global_backward_hooks
                or mod._global_backward_pre_hooks)


class Chain(nn.Sequential):
    """nn.Sequential whose plain layers (Linear, activations, nested Chains) run as direct function calls.

    A d2l-sized step calls ~25 tiny modules; each `module(x)` costs more Python than its kernel
    (hook checks, `__call__`, `forward`). Here those layers call what their forward would call,
    with the same parameters, so the numbers are identical. Anything else (BatchNorm, a
    spectral-norm parametrized Linear, whose type is a subclass) and any layer with hooks goes
    through the normal call. Parameter names are nn.Sequential's, so checkpoints are unchanged.
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if _global_hooks():
            return super().forward(h)
        for m in self._modules.values():
            t = type(m)
            if _has_hooks(m):
                h = m(h)
            elif t is Chain:
                h = m.forward(h)
            else:
                direct = _DIRECT.get(t)
                h = direct(m, h) if direct is not None else m(h)
        return h


def output_activation(value_range: tuple[float, float], unbounded: bool) -> nn.Module:
    """G's last layer matches the data's range: tanh for [-1, 1], sigmoid for [0, 1]."""
    if unbounded:
        return nn.Identity()
    if tuple(value_range) == (0.0, 1.0):
        return nn.Sigmoid()
    return nn.Tanh()


def one_hot(y: Optional[torch.Tensor], num_classes: int, dtype: torch.dtype) -> Optional[torch.Tensor]:
    if num_classes == 0:
        return None
    if y is None:
        raise ValueError("this model is conditional: pass class labels y")
    if y.is_floating_point():  # soft labels (B, num_classes), e.g. a mix of two classes (Latent page)
        if y.shape[1:] != (num_classes,):
            raise ValueError(f"soft labels must be (B, {num_classes}), got {tuple(y.shape)}")
        return y.to(dtype)
    return F.one_hot(y, num_classes).to(dtype)  # (B, num_classes)


def g_input_width(latent_dim: int, num_classes: int, prior: Optional[nn.Module]) -> int:
    """How many numbers G's first layer takes: z (or what the latent prior makes of it) plus the class."""
    return (prior.out_dim if prior is not None else latent_dim) + num_classes


def g_input(z: torch.Tensor, y: Optional[torch.Tensor], num_classes: int, prior: Optional[nn.Module]) -> torch.Tensor:
    """What G's first layer sees: z through the latent prior (islands) when there is one, then the one-hot class."""
    if prior is not None:
        z = prior(z)
    c = one_hot(y, num_classes, z.dtype)
    return z if c is None else torch.cat([z, c], 1)


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every Linear/Conv weight in D with a spectral-norm parametrization (SNGAN)."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.utils.parametrizations.spectral_norm(m)
    return module


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02), norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class EnergyD(nn.Module):
    """EBGAN's discriminator: an auto-encoder whose output is the per-sample reconstruction MSE."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        recon = self.decoder(self.encoder(x))  # same shape as x
        return (recon - x).flatten(1).square().mean(1)  # (B,) energy
