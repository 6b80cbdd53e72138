"""DCGAN (Radford et al. 2016) for any image size s0 * 2^k (s0 <= 7): 8, 16, 28, 32, 64, ..."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch
import torch.nn as nn

from .common import EnergyD, dcgan_init, g_input, g_input_width, one_hot


def dcgan_plan(img_size: int) -> tuple[int, int]:
    """(base size, number of 2x stages): 64 -> (4, 4), 32 -> (4, 3), 28 -> (7, 2), 8 -> (4, 1)."""
    s, k = img_size, 0
    while s % 2 == 0 and s > 7:
        s, k = s // 2, k + 1
    return s, k


def dcgan_supports(img_size: int) -> bool:
    s, k = dcgan_plan(img_size)
    return img_size >= 8 and k >= 1 and s >= 3


def _widths(base_channels: int, k: int, cap: int = 1024) -> list[int]:
    return [min(base_channels * 2 ** (k - 1 - i), cap) for i in range(k)]  # coarse -> fine


def _coarse(width: int, n: int, norm: bool, act: Callable[[], nn.Module]) -> list[nn.Module]:
    """n 3x3 conv layers that keep the coarsest size (7x7 on 28x28 images). Depth is cheapest there: a layer
    costs what one 2x stage does, and on MNIST one such layer in G and D took the FD at step 1,000 from 70 to 12
    (docs/QUALITY.md, the seventeenth session), where 4x the channels at that size had bought nothing."""
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.Conv2d(width, width, 3, 1, 1, bias=False)] + ([nn.BatchNorm2d(width)] if norm else [])
        layers += [act()]
    return layers


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) [+ one-hot label] -> image (B, C, H, W) via ConvTranspose-BN-ReLU, Tanh; `coarse_layers`
    3x3 conv-BN-ReLU layers at the first, coarsest size."""

    def __init__(self, latent_dim: int, img_channels: int, img_size: int, base_channels: int,
                 out_act: nn.Module, num_classes: int = 0, prior: Optional[nn.Module] = None, coarse_layers: int = 0):
        super().__init__()
        assert dcgan_supports(img_size), f"dcgan cannot make {img_size}x{img_size} images"
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.shape = (img_channels, img_size, img_size)
        s0, k = dcgan_plan(img_size)
        w = _widths(base_channels, k)
        layers: list[nn.Module] = [nn.ConvTranspose2d(g_input_width(latent_dim, num_classes, prior), w[0], s0, 1, 0,
                                                      bias=False),
                                   nn.BatchNorm2d(w[0]), nn.ReLU(True)]  # (B, w0, s0, s0)
        layers += _coarse(w[0], coarse_layers, True, lambda: nn.ReLU(True))
        for a, b in zip(w[:-1], w[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]  # 2x
        layers += [nn.ConvTranspose2d(w[-1], img_channels, 4, 2, 1, bias=False), out_act]  # (B, C, H, W)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)
        self.prior = prior  # e.g. LatentMixture: reshapes N(0, I) before the first layer

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert z.shape[1:] == (self.latent_dim,), f"z must be (B, {self.latent_dim}), got {tuple(z.shape)}"
        h = g_input(z, y, self.num_classes, self.prior)
        return self.net(h[:, :, None, None])  # (B, latent+classes, 1, 1) -> (B, C, H, W)


# GANSpace's early layer: the first ConvTranspose's output (B, w0, s0, s0), linear in z
DCGAN_EARLY_LAYER = "net.0"


def dcgan_latent_weight(g: DCGANGenerator) -> torch.Tensor:
    """(w0 * s0 * s0, input width): the first ConvTranspose's weight (in, w0, s0, s0) on a 1x1 input is a linear map
    from G's input to the (w0, s0, s0) block; SeFa factorises it."""
    w = g.net[0].weight.detach()  # (in, out, s0, s0)
    return w.reshape(w.shape[0], -1).T


def _down(img_channels: int, w: list[int], norm: bool) -> list[nn.Module]:
    """Conv-LeakyReLU stack from the image down to (w0, s0, s0); no norm on the first layer."""
    rev = list(reversed(w))  # fine -> coarse
    layers: list[nn.Module] = [nn.Conv2d(img_channels, rev[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for a, b in zip(rev[:-1], rev[1:]):
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False)]
        if norm:
            layers += [nn.BatchNorm2d(b)]
        layers += [nn.LeakyReLU(0.2, True)]
    return layers


class DCGANDiscriminator(nn.Module):
    """image (B, C, H, W) [+ one-hot label maps] -> raw score (B,) via Conv-(BN)-LeakyReLU; `coarse_layers` 3x3
    conv-(BN)-LeakyReLU layers at the coarsest size, before the head."""

    def __init__(self, img_channels: int, img_size: int, base_channels: int, num_classes: int = 0,
                 batch_norm: bool = True, coarse_layers: int = 0):
        super().__init__()
        assert dcgan_supports(img_size), f"dcgan cannot read {img_size}x{img_size} images"
        self.num_classes, self.shape = num_classes, (img_channels, img_size, img_size)
        s0, k = dcgan_plan(img_size)
        w = _widths(base_channels, k)
        self.net = nn.Sequential(*_down(img_channels + num_classes, w, batch_norm),
                                 *_coarse(w[0], coarse_layers, batch_norm, lambda: nn.LeakyReLU(0.2, True)),
                                 nn.Conv2d(w[0], 1, s0, 1, 0, bias=False))  # (B, 1, 1, 1)
        dcgan_init(self)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert x.shape[1:] == self.shape, f"x must be (B, {self.shape}), got {tuple(x.shape)}"
        c = one_hot(y, self.num_classes, x.dtype)
        if c is not None:  # label as constant feature maps beside the pixels
            x = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.net(x).view(-1)


def dcgan_energy_d(img_channels: int, img_size: int, base_channels: int) -> EnergyD:
    """EBGAN auto-encoder D: the DCGAN D's conv stack down, a mirror ConvTranspose stack up."""
    _, k = dcgan_plan(img_size)
    w = _widths(base_channels, k)
    enc = nn.Sequential(*_down(img_channels, w, norm=True))
    up: list[nn.Module] = []
    for a, b in zip(w[:-1], w[1:]):
        up += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    up += [nn.ConvTranspose2d(w[-1], img_channels, 4, 2, 1, bias=False), nn.Tanh()]
    d = EnergyD(enc, nn.Sequential(*up))
    dcgan_init(d)
    return d
