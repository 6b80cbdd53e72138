"""Synthetic low-dimensional data: d2l's Gaussian, the 8-ring, the 5x5 grid, the 1010 pattern.

The mixtures are sampled once (fixed size, seeded) and kept on the device; their centres
and std travel in `meta` so the metrics measure against the real mixture.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .base import DataSpec, TensorDataset

MIXTURE_SIZE = 100_000  # points drawn once per dataset; batches are index draws from them

POINTS_2D = DataSpec(kind="points", shape=(2,), unbounded=True)  # any point cloud on the plane
GAUSSIAN2D_SPEC = RING8_SPEC = GRID25_SPEC = POINTS_2D
PATTERN1010_SPEC = DataSpec(kind="points", shape=(4,), value_range=(0.0, 1.0))


def ring8_centres(radius: float = 2.0, n: int = 8) -> np.ndarray:
    """Centres at angle 2*pi*k/n (not linspace(0, 2*pi, n), which repeats one centre)."""
    t = 2 * math.pi * np.arange(n) / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def grid25_centres() -> np.ndarray:
    v = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.array([(a, b) for a in v for b in v])


def sample_mixture(centres: np.ndarray, std: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    k = rng.randint(len(centres), size=n)
    return (centres[k] + std * rng.randn(n, centres.shape[1])).astype(np.float32)


def _points(name: str, spec: DataSpec, x: np.ndarray, device, **meta) -> TensorDataset:
    return TensorDataset(name, spec, torch.from_numpy(x).to(device), None, meta)


def gaussian2d(device, seed: int = 0) -> TensorDataset:
    """d2l's data: X ~ N(0, I) mapped by x A + b, A=[[1,2],[-0.1,0.5]], b=[1,2]."""
    a = np.array([[1.0, 2.0], [-0.1, 0.5]])
    b = np.array([1.0, 2.0])
    z = np.random.RandomState(seed).randn(MIXTURE_SIZE, 2)
    x = (z @ a + b).astype(np.float32)
    return _points("gaussian2d", GAUSSIAN2D_SPEC, x, device, A=a.tolist(), b=b.tolist(),
                   mean=b.tolist(), cov=(a.T @ a).tolist())


def mixture(name: str, centres: np.ndarray, std: float) -> Callable[..., TensorDataset]:
    """A loader of equal Gaussians at `centres` (one spec for every 2-D mixture); the mixture
    metrics read the centres and std from its meta."""
    centres = np.asarray(centres, dtype=float)
    spec = DataSpec(kind="points", shape=(centres.shape[1],), unbounded=True)

    def load(device, seed: int = 0) -> TensorDataset:
        return _points(name, spec, sample_mixture(centres, std, MIXTURE_SIZE, seed), device,
                       centres=centres.tolist(), std=std)

    return load


ring8 = mixture("ring8", ring8_centres(), 0.02)
grid25 = mixture("grid25", grid25_centres(), 0.05)


def pattern1010(device, seed: int = 0) -> TensorDataset:
    """Make Your Own GAN's 1010 pattern: four values, high-low-high-low, each jittered.

    The book draws 1 as U(0.8, 1.0) and 0 as U(0.0, 0.2).
    """
    rng = np.random.RandomState(seed)
    hi = rng.uniform(0.8, 1.0, size=(MIXTURE_SIZE, 2))
    lo = rng.uniform(0.0, 0.2, size=(MIXTURE_SIZE, 2))
    x = np.stack([hi[:, 0], lo[:, 0], hi[:, 1], lo[:, 1]], axis=1).astype(np.float32)
    return _points("pattern1010", PATTERN1010_SPEC, x, device, pattern=[1, 0, 1, 0], high=(0.8, 1.0), low=(0.0, 0.2))
