"""Named presets: small dicts over RunConfig's defaults, one per system of the source material."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .recipes_images import IMAGES_SMALL
from .recipes_points import POINTS
from .schema import RunConfig


@dataclass(frozen=True)
class Preset:
    values: dict[str, Any]
    source: str  # where the system comes from (docs/SOURCES.md has the details)


PRESETS: Registry[Preset] = Registry("preset")


def preset(name: str, description: str, source: str, **values: Any) -> None:
    """Register a preset; its values carry its own name (RunConfig.preset), so every caller that builds a
    config from them (preset_config, the Train page's form) starts a run named after the preset."""
    PRESETS.add(name, Preset({**values, "preset": name}, source), description)


def preset_config(name: str) -> RunConfig:
    """The preset's RunConfig, with `preset` set to its name."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS.names())}")
    return RunConfig.from_dict(PRESETS.get(name).values)


# ring8 and grid25: the generic point recipe itself (ganlab/config/recipes_points.py, what `--dataset X` gets for any
# point data), which knows nothing of either: LSGAN with R1 falling from 1.0 to 0.1, 2,000 latent islands whatever the
# mode count, the data standardised inside the nets, a linear lr decay over 2,000 steps. Measured on seeds 0-4 x 1 and
# 2 threads (10 runs each, docs/QUALITY.md, the fifteenth session, Intel box): ring8 8/8 modes in every run at
# 99.7-100% HQ, grid25 25/25 at 98.4-99.8%, both at every mode with >= 95% HQ by step 800 in every run.
# The presets before it (bench.quality's ring8-v0 / grid25-v0): ring8 12,000 steps of a 3x256 G at 91.2% HQ with
# 2 threads; grid25 10,000 steps with 25 latent islands, its own mode count.
preset("ring8", "8 Gaussians on a ring: every mode, sharp (the point recipe)",
       "mode-collapse benchmark (Unrolled GAN, VEEGAN, PacGAN)", **{**POINTS, "dataset": "ring8"})
preset("grid25", "25 Gaussians on a grid: every mode, sharp (the point recipe)",
       "mode-collapse benchmark (VEEGAN, PacGAN)", **{**POINTS, "dataset": "grid25"})
preset("d2l-gaussian", "d2l: a linear G learns a 2-D Gaussian", "seed 000 (d2l GAN chapter)",
       dataset="gaussian2d", arch="linear", loss="bce", steps=2500, batch_size=8, lr_d=0.05, lr_g=0.005,
       beta1=0.9, beta2=0.999, latent_dim=2, d_hidden=[5, 3], activation="tanh", log_every=25, snapshot_every=125, ema=0.0)
preset("pattern1010", "Make Your Own GAN: four numbers high-low-high-low", "seed 003 (1010 pattern)",
       dataset="pattern1010", arch="mlp", loss="mse", steps=10000, batch_size=1, optimizer="sgd", lr_d=0.02, lr_g=0.01,
       latent_dim=1, latent_dist="uniform", g_hidden=[3], d_hidden=[3], activation="sigmoid", log_every=100,
       snapshot_every=500, ema=0.0)
# digits: at lr 2e-4 without R1/EMA the MLP GAN lost the 7s (9/10 classes, FD 79 against a real floor of
# 2.3); R1 (gamma 1) + EMA 0.995 + lr 5e-4 gave 10/10 from step 250. The preset is the small-image recipe on digits
# (what `--dataset digits` alone trains), so the study's digits rows measure both; why its values, recipes_images.py.
_DIGITS = dict(dataset="digits", **IMAGES_SMALL)
preset("digits", "MLP GAN on scikit-learn's 8x8 digits: all 10 classes", "seeds 002/003 (MLP MNIST GANs), offline",
       **_DIGITS)
preset("myogan-mnist", "Make Your Own GAN's MNIST MLP (hidden 200, LeakyReLU + LayerNorm)", "seed 003 (MNIST GAN)",
       dataset="mnist", arch="mlp", loss="bce", steps=20000, batch_size=32, lr_d=1e-4, lr_g=1e-4, beta1=0.9,
       latent_dim=100, g_hidden=[200], d_hidden=[200], activation="leaky_relu", norm="layer", d_norm="layer", ema=0.0)
preset("mlp-mnist", "The MLP MNIST GAN of the handwritten-digit post (BatchNorm + GELU)", "seed 002",
       dataset="mnist", arch="mlp", loss="bce", steps=10000, batch_size=64, lr_d=3e-4, lr_g=3e-4, beta1=0.4, beta2=0.8,
       latent_dim=100, g_hidden=[128, 256, 512, 1024], d_hidden=[512, 256, 128, 64, 32], activation="gelu", norm="batch", ema=0.0,
       weight_decay_d=1e-4, weight_decay_g=1e-4, reuse_fakes=True)
preset("dcgan", "DCGAN on 8x8 digits (swap in mnist/cifar10/hdf5 for bigger images)", "seed 001 (DCGAN)",
       dataset="digits", arch="dcgan", loss="bce", steps=3000, batch_size=64, lr_d=2e-4, lr_g=2e-4,
       latent_dim=100, base_channels=64, ema=0.995, snapshot_every=150)
preset("cgan", "Conditional GAN: choose the digit you want", "seed 003 (conditional GAN)",
       conditional=True, **_DIGITS)
preset("wgan", "Wasserstein GAN with weight clipping (RMSprop, k=5)", "seed 004 (WGAN)",
       dataset="ring8", arch="mlp", loss="wgan", optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, d_steps=5, clip_value=0.01,
       steps=1500, batch_size=256, latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 256])
# wgan-gp: the paper's lr 1e-4 left a drifting cloud after 1,500 steps (1/8 modes); 5e-4 gives 8/8 (docs/QUALITY.md)
preset("wgan-gp", "WGAN with gradient penalty (Adam 5e-4, betas 0/0.9, k=5)", "seed 004 (WGAN-GP)",
       dataset="ring8", arch="mlp", loss="wgan-gp", lr_d=5e-4, lr_g=5e-4, beta1=0.0, beta2=0.9, d_steps=5,
       steps=1500, batch_size=256, latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 256])
preset("lsgan", "Least-squares GAN", "seed 004 (LSGAN)",
       dataset="ring8", arch="mlp", loss="lsgan", steps=3000, batch_size=256, lr_d=2e-4, lr_g=2e-4,
       latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 256])
preset("sngan", "Spectral-norm D with the hinge loss", "seed 004 (SNGAN)",
       dataset="ring8", arch="mlp", loss="hinge", spectral_norm=True, steps=3000, batch_size=256, lr_d=2e-4, lr_g=2e-4,
       beta1=0.0, beta2=0.9, latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 256])
preset("ebgan", "Energy-based GAN: an auto-encoder D with a margin", "seed 004 (EBGAN)",
       dataset="ring8", arch="mlp", loss="ebgan", margin=0.5, steps=3000, batch_size=256, lr_d=2e-4, lr_g=2e-4,
       latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 64])
# ls-gan: the margin alone bounds L (the loss has no E L(x) term, ganlab/game/losses.py); the paper's weight decay on L
# took seed 0 from 67.5% to 71.6% HQ; spectral norm on L gave 0/8 modes (docs/QUALITY.md)
preset("ls-gan", "Loss-sensitive GAN: a margin that grows with distance", "seed 004 (loss-sensitive GAN)",
       dataset="ring8", arch="mlp", loss="ls-gan", weight_decay_d=1e-4, steps=3000, batch_size=256, lr_d=2e-4,
       lr_g=2e-4, latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 256])
preset("original-gan", "Goodfellow's minimax game, saturating G loss", "seeds 001/002 (the original GAN)",
       dataset="ring8", arch="mlp", loss="bce-minimax", steps=3000, batch_size=256, lr_d=2e-4, lr_g=2e-4,
       latent_dim=2, ema=0.99, g_hidden=[256, 256], d_hidden=[256, 256])
