"""Pieces shared by the architectures: activations, label conditioning, spectral norm, energy D."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "gelu": lambda: nn.GELU(),
    "tanh": lambda: nn.Tanh(),
    "sigmoid": lambda: nn.Sigmoid(),
}


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
