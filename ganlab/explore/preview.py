"""What a live page shows of a run at a tick: fixed-z samples and, for 2-D data, D's surface."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import torch

from ..data import to_unit
from ..game.losses import d_prob
from ..models.latents import z_batch
from ..training import Trainer

POINTS = 1000  # fake and real points drawn in a 2-D scatter
GRID = 64  # D's surface is evaluated on GRID x GRID points


@torch.no_grad()
def make_preview(trainer: Trainer) -> dict[str, Any]:
    """Plain numpy arrays (safe to hand to another thread); uses no training RNG."""
    out: dict[str, Any] = {"step": trainer.step, "kind": trainer.spec.kind,
                           "samples": to_unit(trainer.generate(trainer.fixed_z, trainer.fixed_y), trainer.spec)}
    if trainer.fixed_y is not None:
        out["labels"] = trainer.fixed_y.cpu().numpy()
    if trainer.spec.kind == "points" and trainer.spec.shape == (2,):
        out.update(points_preview(trainer))
    return out


_FIXED: weakref.WeakKeyDictionary[Trainer, tuple] = weakref.WeakKeyDictionary()


def _preview_inputs(trainer: Trainer, n: int) -> tuple[torch.Tensor, np.ndarray]:
    """The preview's fixed z and real points, made once per trainer: they never change, and making them
    (1000 seeded latents, a permutation of the data) took ~0.1-0.3 s, every 0.5 s, on the trainer's thread."""
    hit = _FIXED.get(trainer)
    if hit is None or hit[0] != n:
        z = z_batch(range(20_000, 20_000 + n), trainer.cfg.latent_dim, trainer.cfg.latent_dist, trainer.device)
        real = trainer.data.take(n, seed=1)[0].cpu().numpy()
        real.flags.writeable = False  # shared by every preview of this run: read-only
        hit = _FIXED[trainer] = (n, z, real)
    return hit[1], hit[2]


@torch.no_grad()
def points_preview(trainer: Trainer) -> dict[str, Any]:
    z, real = _preview_inputs(trainer, POINTS)
    y = torch.arange(POINTS, device=trainer.device) % trainer.num_classes if trainer.num_classes else None
    fake = trainer.generate(z, y).cpu().numpy()
    out = {"fake": fake, "real": real}
    if trainer.num_classes == 0:
        out["surface"] = d_surface(trainer, np.concatenate([real, fake]))
    return out


@torch.no_grad()
def d_surface(trainer: Trainer, pts: np.ndarray) -> dict[str, Any]:
    """D's output on a grid covering the points (a 10% margin), as GAN Lab draws it."""
    finite = pts[np.isfinite(pts).all(1)]
    lo, hi = (finite.min(0), finite.max(0)) if len(finite) else (np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    pad = np.maximum((hi - lo) * 0.1, 0.25)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], GRID, dtype=np.float32)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], GRID, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).to(trainer.device)
    d = trainer.D
    was = d.training
    d.eval()
    try:
        z = d_prob(trainer.loss, d(grid).float()).reshape(GRID, GRID).cpu().numpy()
    finally:
        d.train(was)
    return {"xs": xs, "ys": ys, "z": z, "label": trainer.loss.d_label, "probability": trainer.loss.to_prob}
