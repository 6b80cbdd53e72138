"""The truncation trick (StyleGAN, BigGAN): pull z toward the mean latent by psi, trading diversity for fidelity.

psi = 1 is G's own prior, psi = 0 every sample the mean latent's; in between, samples near the middle of
the prior, where G was trained most, look cleaner and vary less. `truncation_sweep` puts numbers on the
trade: precision and density should rise and recall and coverage fall as psi goes to 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch

from ..data import load_dataset
from ..evaluation.evaluate import metrics_for
from ..evaluation.prdc import prdc
from ..models.latents import z_batch
from . import space

PSI_RANGE = (0.0, 2.0)  # beyond 1 is extrapolation away from the mean; beyond 2 G sees latents it never met
SWEEP_SEED = 30_000  # the seeds evaluate_trainer scores, so psi = 1 matches the run's own eval ticks


def check_psi(psi) -> float:
    """psi as a float, or a ValueError that says the range."""
    try:
        value = float(psi)
    except (TypeError, ValueError):
        raise ValueError(f"psi must be a number from {PSI_RANGE[0]:g} to {PSI_RANGE[1]:g}, got {psi!r}") from None
    if not (math.isfinite(value) and PSI_RANGE[0] <= value <= PSI_RANGE[1]):
        raise ValueError(f"psi must be a number from {PSI_RANGE[0]:g} to {PSI_RANGE[1]:g}, got {psi!r}")
    return value


def truncate(z: torch.Tensor, psi: float, mean: Optional[torch.Tensor] = None,
             g: Optional[torch.nn.Module] = None) -> torch.Tensor:
    """z̄ + psi (z − z̄). z̄ is the prior's mean latent (0 for N(0, I) and U(-1, 1)) unless given.

    With G given and a latent mixture in front of it, the pull acts on the within-island latent
    (ganlab.explore.space), so each sample keeps its island and moves to that island's centre.
    """
    psi = check_psi(psi)
    if psi == 1.0:
        return z
    island, inner = space.to_inner(g, z) if g is not None else (None, z)
    centre = torch.zeros_like(inner[:1]) if mean is None else mean.reshape(1, -1).to(inner)
    pulled = centre + psi * (inner - centre)
    return space.from_inner(g, island, pulled) if g is not None else pulled


def _scalars(m: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in m.items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)}


@torch.no_grad()
def truncation_sweep(explorer, psis: Sequence[float], *, n: int = 1000, data_root=None) -> list[dict[str, float]]:
    """Per psi: precision, recall, density, coverage, and the run's own family metrics (FD for image runs,
    modes and high-quality rate for mixtures), on the same n seeds at every psi."""
    psis = [check_psi(p) for p in psis]
    if not psis:
        raise ValueError("give at least one psi")
    cfg, spec = explorer.cfg, explorer.spec
    ds = load_dataset(cfg.dataset, "cpu", seed=cfg.seed, root=data_root)
    z = z_batch(range(SWEEP_SEED, SWEEP_SEED + n), cfg.latent_dim, cfg.latent_dist, explorer.device)
    y = torch.arange(n, device=explorer.device) % explorer.num_classes if explorer.conditional else None
    real_flat = None  # for runs whose metric family measures no precision/recall: raw coordinates or pixels
    rows = []
    for psi in psis:
        x = torch.cat([explorer.g(zz, None if y is None else y[i:i + 1024])
                       for i, zz in zip(range(0, n, 1024), truncate(z, psi, g=explorer.g).split(1024))]).float().cpu()
        m = _scalars(metrics_for(cfg.dataset, x, spec, device="cpu", data_root=data_root, seed=cfg.seed, dataset=ds))
        if "precision" not in m:  # points (and unlabelled images): the balls live in the data's own coordinates
            if real_flat is None:
                real_flat = ds.take(n, seed=0)[0].float().cpu().flatten(1).numpy()
            m.update(prdc(real_flat, x.flatten(1).numpy()))
        rows.append({"psi": psi, **m})
    return rows
