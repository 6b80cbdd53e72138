"""Architectures: a registry of builders that turn (config, data spec) into (G, D), each with its facts.

An entry says which data it models (`kinds`, `problem`), whether its nets hold batch norm and
whether they run faster in channels_last; the trainer, validation and the form read those
facts from the entry, never from the architecture's name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

from ..data.base import DataSpec
from ..game.losses import LOSSES
from ..registry import Registry
from .common import add_spectral_norm, output_activation
from .dcgan import DCGAN_EARLY_LAYER, DCGANDiscriminator, DCGANGenerator, dcgan_energy_d, dcgan_latent_weight, dcgan_supports
from .mlp import MLP_EARLY_LAYER, MLPDiscriminator, MLPGenerator, mlp_energy_d, mlp_latent_weight
from .prior import LatentMixture

# Model initialisation draws from torch's one global RNG. Two threads building models at once (two runs
# started together, or Explore rebuilding G while a run starts) would interleave their draws, and the
# same config and seed would no longer give the same weights. Every build in this process holds it.
RNG_LOCK = threading.RLock()


def _any_shape(spec: DataSpec) -> Optional[str]:
    return None


@dataclass(frozen=True)
class Arch:
    build: Callable[..., tuple[nn.Module, nn.Module]]  # (cfg, spec) -> (G, D)
    kinds: tuple[str, ...]  # data kinds it accepts: "points", "images"
    problem: Callable[[DataSpec], Optional[str]] = _any_shape  # why it cannot model data of this shape, or None
    batch_norm: bool = False  # its nets always hold batch norm (then a batch needs >= 2 samples)
    channels_last: bool = False  # convolutions: faster in channels_last (CUDA, and oneDNN on the CPU)
    # G's first weight as a matrix (out, input width) on what its first layer sees (ganlab.explore.directions: SeFa)
    latent_weight: Optional[Callable[[nn.Module], torch.Tensor]] = None
    early_layer: str = ""  # the module (G.named_modules()) whose output GANSpace's PCA reads; linear in G's input
    g_class: Optional[type] = None  # the generator class it builds (how a bare G finds its entry)


ARCHS: Registry[Arch] = Registry("architecture")


def _n_classes(cfg, spec: DataSpec) -> int:
    return spec.num_classes if cfg.conditional else 0


def _prior(cfg) -> nn.Module | None:
    """The latent islands G starts with (ganlab/models/prior.py), when latent_mixture > 0."""
    return LatentMixture(cfg.latent_dim, cfg.latent_mixture) if cfg.latent_mixture else None


def build_linear(cfg, spec: DataSpec):
    """d2l: G is one affine map; D a small MLP (d_hidden, activation)."""
    g = MLPGenerator(cfg.latent_dim, spec.shape, [], cfg.activation, "none",
                     output_activation(spec.value_range, spec.unbounded), _n_classes(cfg, spec), _prior(cfg))
    return g, _mlp_d(cfg, spec)


def _energy_d(cfg) -> bool:
    """The loss reads D as an energy (EBGAN): D is an auto-encoder, not a classifier."""
    return LOSSES.get(cfg.loss).d_output == "energy"


def _mlp_d(cfg, spec: DataSpec) -> nn.Module:
    if _energy_d(cfg):
        return mlp_energy_d(spec.shape, cfg.d_hidden, cfg.activation, cfg.d_norm)
    return MLPDiscriminator(spec.shape, cfg.d_hidden, cfg.activation, cfg.d_norm, _n_classes(cfg, spec), _standardize(cfg, spec))


def _standardize(cfg, spec: DataSpec) -> bool:
    """G and D work in the data's standardised coordinates (ganlab/models/scaling.py): unbounded points only."""
    return bool(getattr(cfg, "standardize", False)) and spec.kind == "points" and spec.unbounded


def build_mlp(cfg, spec: DataSpec):
    g = MLPGenerator(cfg.latent_dim, spec.shape, cfg.g_hidden, cfg.activation, cfg.norm,
                     output_activation(spec.value_range, spec.unbounded), _n_classes(cfg, spec), _prior(cfg),
                     _standardize(cfg, spec))
    return g, _mlp_d(cfg, spec)


def build_dcgan(cfg, spec: DataSpec):
    c, h, _ = spec.shape
    g = DCGANGenerator(cfg.latent_dim, c, h, cfg.base_channels,
                       output_activation(spec.value_range, spec.unbounded), _n_classes(cfg, spec), _prior(cfg),
                       coarse_layers=cfg.coarse_layers)
    if _energy_d(cfg):
        return g, dcgan_energy_d(c, h, cfg.base_channels)
    # batch norm in D fights a gradient penalty (it couples the samples the penalty treats one by one)
    batch_norm = not (LOSSES.get(cfg.loss).gradient_penalty or cfg.spectral_norm or cfg.r1_weight > 0)
    return g, DCGANDiscriminator(c, h, cfg.base_channels, _n_classes(cfg, spec), batch_norm=batch_norm,
                                 coarse_layers=cfg.coarse_layers)


def _dcgan_problem(spec: DataSpec) -> Optional[str]:
    c, h, w = spec.shape
    if h != w or not dcgan_supports(h):
        return (f"dcgan needs square images of 8 px or more whose size halves down to 3-7 px (8, 16, 28, 32, 64, ...); "
                f"this dataset is {h}x{w}")
    return None


ARCHS.add("linear", Arch(build_linear, ("points",), latent_weight=mlp_latent_weight, early_layer=MLP_EARLY_LAYER,
                         g_class=MLPGenerator),
          "d2l's generator: a single affine map of z (only fits Gaussian-shaped data); D is a small MLP")
ARCHS.add("mlp", Arch(build_mlp, ("points", "images"), latent_weight=mlp_latent_weight, early_layer=MLP_EARLY_LAYER,
                      g_class=MLPGenerator),
          "Fully connected G and D with chosen widths, activation and norm (the seeds' MLP GANs)")
ARCHS.add("dcgan", Arch(build_dcgan, ("images",), _dcgan_problem, batch_norm=True, channels_last=True,
                        latent_weight=dcgan_latent_weight, early_layer=DCGAN_EARLY_LAYER, g_class=DCGANGenerator),
          "Deep convolutional GAN: ConvTranspose-BN-ReLU G, Conv-LeakyReLU D (square images, 8 px and up)")


def build_models(cfg, spec: DataSpec) -> tuple[nn.Module, nn.Module]:
    """G and D for a validated config; spectral norm is applied to D here, once."""
    g, d = ARCHS.get(cfg.arch).build(cfg, spec)
    if cfg.spectral_norm:
        add_spectral_norm(d)
    return g, d


def arch_problem(arch: str, spec: DataSpec) -> str | None:
    """Why `arch` cannot model data of this spec, or None."""
    a = ARCHS.get(arch)
    if spec.kind not in a.kinds:
        return f"the {arch} architecture works on {' and '.join(a.kinds)}, but this dataset is {spec.kind}"
    return a.problem(spec)
