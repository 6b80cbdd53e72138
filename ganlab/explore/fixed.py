"""The fixed inputs every picture of a run is drawn from: the preview's latents and real points, made once per trainer.

Their own room so the preview (preview.py) and the game's frames (game.py) share them without importing each other.
"""

from __future__ import annotations

import weakref
from typing import Optional

import numpy as np
import torch

from ..models.latents import z_batch
from ..training import Trainer

POINTS = 1000  # fake and real points drawn in a 2-D scatter

_FIXED: weakref.WeakKeyDictionary[Trainer, tuple] = weakref.WeakKeyDictionary()


def _fixed(trainer: Trainer, n: int) -> tuple:
    hit = _FIXED.get(trainer)
    if hit is None or hit[0] != n:
        z = z_batch(range(20_000, 20_000 + n), trainer.cfg.latent_dim, trainer.cfg.latent_dist, trainer.device)
        x, y = trainer.data.take(n, seed=1)
        real = x.cpu().numpy()
        real.flags.writeable = False  # shared by every preview of this run: read-only
        labels = y.to(trainer.device) if (trainer.num_classes and y is not None) else None
        hit = _FIXED[trainer] = (n, z, real, labels)
    return hit


def preview_inputs(trainer: Trainer, n: int) -> tuple[torch.Tensor, np.ndarray]:
    """The preview's fixed z and real points, made once per trainer: they never change, and making them
    (1000 seeded latents, a permutation of the data) took ~0.1-0.3 s, every 0.5 s, on the trainer's thread."""
    hit = _fixed(trainer, n)
    return hit[1], hit[2]


def preview_real_labels(trainer: Trainer, n: int) -> Optional[torch.Tensor]:
    """The labels of preview_inputs' real points (a conditional D judges them with their labels); None unconditional."""
    return _fixed(trainer, n)[3]


def preview_fake_labels(trainer: Trainer, n: int) -> Optional[torch.Tensor]:
    """The labels the preview's fakes are drawn for: every class in turn."""
    return torch.arange(n, device=trainer.device) % trainer.num_classes if trainer.num_classes else None
