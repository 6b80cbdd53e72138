"""A seed is a latent's identity: z(seed) is the same on every machine, for training, previews and the explorer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def z_batch(seeds: Sequence[int], dim: int, dist: str = "normal", device="cpu") -> torch.Tensor:
    """(len(seeds), dim): one latent per seed, the same on every machine (numpy's RandomState)."""
    rows = []
    for s in seeds:
        rng = np.random.RandomState(int(s) % 2**32)
        rows.append(rng.randn(dim) if dist == "normal" else rng.uniform(-1.0, 1.0, dim))
    return torch.from_numpy(np.stack(rows).astype(np.float32)).to(device)


def z_from_seed(seed: int, dim: int, dist: str = "normal", device="cpu") -> torch.Tensor:
    """(1, dim) latent of one seed."""
    return z_batch([seed], dim, dist, device)
