"""Samplers: how a trained run turns latents into samples. `raw` is G alone; `drs` filters G with D.

Discriminator rejection sampling (Azadi et al., ICLR 2019; an option in StudioGAN too): at
D's optimum, its logit is log p_data(x) / p_G(x), so accepting a fake with probability
proportional to exp(logit) turns G's distribution into the data's. It removes exactly what a
continuous G cannot avoid on a mixture: the thin bridges of samples between modes. It needs a
D whose output is that logit (the sigmoid losses), and reports its acceptance rate, because
a sampler that keeps 10% of G's samples is a different claim from G alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..errors import SamplingError
from ..game.losses import LOSSES
from ..models.latents import z_batch
from ..registry import Registry
from ..store.checkpoint import discriminator_from_checkpoint

EPS = 1e-6
MAX_DRAWS = 64  # candidates per wanted sample before giving up


@dataclass
class Sampled:
    x: torch.Tensor  # (n, ...) samples, float
    candidates: int  # how many of G's samples were judged
    accepted: int  # how many of those D kept (>= n: the last batch may overshoot)

    @property
    def acceptance(self) -> float:
        return self.accepted / max(self.candidates, 1)


def drs_accept_prob(logits: np.ndarray, max_logit: float, quantile: float) -> np.ndarray:
    """Acceptance probabilities of one batch, the paper's F(x) shifted by its `quantile`-th value (gamma).

    F(x) = l(x) - M - log(1 - exp(l(x) - M - eps)): log of the ideal acceptance probability exp(l - M),
    made numerically safe near the max; subtracting gamma keeps the acceptance rate usable when D is
    not at its optimum (every F would be very negative).
    """
    d = np.minimum(logits - max_logit, 0.0)
    f = d - np.log1p(-np.exp(d - EPS))
    gamma = np.quantile(f, quantile)
    return 1.0 / (1.0 + np.exp(-(f - gamma)))


def drs_problem(loss) -> Optional[str]:
    if not loss.to_prob or loss.d_output != "logit":
        return ("drs needs a D whose output is a logit of real vs fake (the sigmoid losses: bce, bce-minimax, mse); "
                "this run's loss gives a critic score or an energy")
    return None


@torch.no_grad()
def drs_sample(g: torch.nn.Module, d: torch.nn.Module, cfg, n: int, seed: int, loss, *,
               y: Optional[torch.Tensor] = None, quantile: float = 0.8, batch: int = 1024) -> Sampled:
    """n samples from G filtered by D, drawn from latent seeds seed, seed+1, ... (reproducible).

    The first batch is the burn-in that sets M, the largest logit; M grows if a later batch beats it.
    """
    problem = drs_problem(loss)
    if problem:
        raise SamplingError(problem)
    device = next(g.parameters()).device
    rng = np.random.default_rng(seed)
    kept, have, drawn, max_logit = [], 0, 0, -np.inf
    while have < n:
        if drawn >= MAX_DRAWS * n:
            raise SamplingError(f"drs kept {have} of {drawn} samples: D rejects almost everything G makes "
                                "(is the run trained?); use the raw sampler")
        seeds = range(seed + drawn, seed + drawn + batch)
        z = z_batch(seeds, cfg.latent_dim, cfg.latent_dist, device)
        yy = None if y is None else y[torch.arange(drawn, drawn + batch) % len(y)].to(device)
        x = g(z, yy).float()
        logits = d(x, yy).float().reshape(-1).cpu().numpy().astype(np.float64)
        max_logit = max(max_logit, float(np.max(logits)))
        keep = rng.random(len(logits)) < drs_accept_prob(logits, max_logit, quantile)
        kept.append(x[torch.from_numpy(keep).to(device)])
        have += int(keep.sum())
        drawn += batch
    return Sampled(torch.cat(kept)[:n], drawn, have)


@torch.no_grad()
def sample_generator(g: torch.nn.Module, cfg, n: int, seed: int, y: Optional[torch.Tensor]) -> torch.Tensor:
    """n samples from seeds seed..seed+n-1 (a seed is a latent's identity), in batches."""
    device = next(g.parameters()).device
    out = []
    for i in range(0, n, 1024):
        z = z_batch(range(seed + i, seed + min(n, i + 1024)), cfg.latent_dim, cfg.latent_dist, device)
        out.append(g(z, None if y is None else y[i:i + len(z)].to(device)).float())
    return torch.cat(out)


def _raw(g, cfg, n: int, seed: int, y, state) -> tuple[torch.Tensor, dict[str, Any]]:
    return sample_generator(g, cfg, n, seed, y), {}


def _drs(g, cfg, n: int, seed: int, y, state) -> tuple[torch.Tensor, dict[str, Any]]:
    got = drs_sample(g, discriminator_from_checkpoint(state), cfg, n, seed, LOSSES.get(cfg.loss), y=y)
    return got.x, {"acceptance_rate": got.acceptance}


# (G, config, n, first seed, labels or None, the checkpoint's state) -> (samples, what the sampler reports)
Sampler = Callable[..., tuple[torch.Tensor, dict[str, Any]]]
SAMPLERS: Registry[Sampler] = Registry("sampler")
SAMPLERS.add("raw", _raw, "G's samples as they are")
SAMPLERS.add("drs", _drs, "Discriminator rejection sampling: D's logit decides which of G's samples to keep "
                          "(sigmoid losses only; the acceptance rate is reported)")


def sample(name: str, g: torch.nn.Module, cfg, n: int, seed: int, y: Optional[torch.Tensor],
           state: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
    """n samples of a checkpoint's G with the sampler `name`, and {"sampler": name, ...what it reports}."""
    if name not in SAMPLERS:
        raise SamplingError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS.names())}")
    x, info = SAMPLERS.get(name)(g, cfg, n, seed, y, state)
    return x, {"sampler": name, **info}
