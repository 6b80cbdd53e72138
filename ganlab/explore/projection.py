"""Projection: find the z whose G(z) matches a given image (or point), by optimising z, as stylegan2's projector does.

Why: a real image brought into the latent space can be interpolated, added and walked like any seed
(the DCGAN paper's face arithmetic on real faces), and how well G can remake an image it never saw says
how much of the data it really covers.

The recipe (NVlabs/stylegan2-ada-pytorch projector.py, with ganlab's pieces in place of StyleGAN's):
  - start from the best of `starts` random latents, judged by the same distance that is optimised
    (stylegan2 starts from the mean w; a best-of-many start is the better bet for a small, bumpy z space);
  - Adam on z with a learning rate that ramps up over the first 5% of steps and down (cosine) over the
    last 25%, and noise added to z that fades out over the first 75%, both as stylegan2 does;
  - loss = pixel MSE + a feature distance (ganlab's own classifier in place of LPIPS: its penultimate layer,
    relative squared distance) + a prior term (|z|²/dim − 1)² that keeps z as long as a typical N(0, I)
    latent, so the result stays somewhere G was trained (stylegan2 regularises its noise maps instead).
    A uniform latent is clamped to [-1, 1] after each step instead;
  - the best z seen over all steps is kept, so the answer is never worse than the start.
Conditional runs try every class (each with its own best start, all optimised in one batch) and keep the
class whose reconstruction is closest, unless a class is given. Points are projected the same way, the
distance Euclidean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..data import to_unit
from ..data.base import DataSpec

STEPS = 200
STARTS = 512  # random latents the search starts from (judged in one batch)
LR = 0.1
PRIOR_WEIGHT = 0.01
FEATURE_WEIGHT = 0.05  # relative squared feature distance; small beside pixels: it guides, pixels decide
NOISE = 0.05  # initial noise on z, fading to 0 at 75% of the steps (stylegan2: 0.05 of w's std)
MAX_TARGETS = 256  # targets in one call (times the classes, for a conditional run)
Progress = Callable[[int, int, float], None]  # (step, steps, mean error so far)


@dataclass(frozen=True)
class Projection:
    z: np.ndarray  # (N, latent_dim) the latents found
    recon: np.ndarray  # G(z) in display form: images (N, C, H, W) in [0, 1], points (N, D)
    error: np.ndarray  # (N,) pixel RMSE in [0, 1] units (images) or Euclidean distance (points)
    feature_error: Optional[np.ndarray]  # (N,) distance in the classifier's features; None without a classifier
    labels: Optional[np.ndarray]  # (N,) the class each reconstruction uses (conditional runs)
    baseline: np.ndarray  # (N,) `error` of the best random start: what optimising added is baseline - error
    history: np.ndarray  # (steps + 1,) mean error of the best so far, from the start to the end
    label_rule: str = ""  # how the class was chosen: "given", "best of every class", or "" (unconditional)


def _targets(target, spec: DataSpec) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(target, dtype=np.float32))
    want = tuple(spec.shape)
    if t.ndim == len(want):
        t = t[None]
    if t.ndim != len(want) + 1 or tuple(t.shape[1:]) != want:
        shape = "(N, " + ", ".join(map(str, want)) + ")"
        raise ValueError(f"the target must be {shape} for this run, got {tuple(t.shape)}")
    if not 1 <= len(t) <= MAX_TARGETS:
        raise ValueError(f"project 1 to {MAX_TARGETS} targets at once, got {len(t)}")
    if not torch.isfinite(t).all():
        raise ValueError("the target holds NaN or infinite values")
    if spec.kind == "images":
        if t.min() < 0 or t.max() > 1:
            raise ValueError(f"images must be in [0, 1], got values from {float(t.min()):.3g} to {float(t.max()):.3g}")
        lo, hi = spec.value_range
        t = t * (hi - lo) + lo
    return t


class _Objective:
    """Per-row distance between G's output and its target: pixels (in [0, 1] units) plus the feature term."""

    def __init__(self, spec: DataSpec, feature_fn, feature_weight: float):
        self.images = spec.kind == "images"
        lo, hi = spec.value_range
        self.scale = (hi - lo) if self.images else 1.0
        self.feature_fn, self.weight = feature_fn, feature_weight

    def prepare(self, t: torch.Tensor) -> None:
        self.t = t
        if self.feature_fn is not None:
            with torch.no_grad():
                self.tf = self.feature_fn(t)
                self.tf_norm = self.tf.square().sum(1).clamp_min(1e-8)

    def parts(self, x: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(pixel or point distance term (B,), relative feature distance (B,) or None) against targets[rows]."""
        d = (x - self.t[rows]).flatten(1) / self.scale
        pix = d.square().mean(1) if self.images else d.square().sum(1)
        if self.feature_fn is None:
            return pix, None
        f = self.feature_fn(x)
        return pix, (f - self.tf[rows]).square().sum(1) / self.tf_norm[rows]

    def fit(self, pix: torch.Tensor, feat: Optional[torch.Tensor]) -> torch.Tensor:
        return pix if feat is None else pix + self.weight * feat


def _prior_term(z: torch.Tensor, dist: str) -> torch.Tensor:
    if dist != "normal":
        return torch.zeros(len(z), device=z.device)
    return (z.square().mean(1) - 1.0).square()


def _lr(t: float, lr: float) -> float:
    """stylegan2's schedule: cosine ramp-down over the last 25%, linear ramp-up over the first 5%."""
    ramp = min(1.0, (1.0 - t) / 0.25)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / 0.05 if t > 0 else 0.05)


def _random_latents(n: int, dim: int, dist: str, seed: int, device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, dim, generator=gen) if dist == "normal" else torch.rand(n, dim, generator=gen) * 2 - 1
    return z.to(device)


def _best_starts(g, objective: _Objective, targets: torch.Tensor, classes: list[Optional[int]], cfg, starts: int,
                 seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (class, target) row: the best of `starts` random latents (rows ordered class-major) and its fit."""
    pool = _random_latents(starts, cfg.latent_dim, cfg.latent_dist, seed, device)
    best_z, best_fit = [], []
    with torch.no_grad():
        for c in classes:
            y = None if c is None else torch.full((starts,), c, device=device)
            x = torch.cat([g(pz, None if y is None else y[:len(pz)]) for pz in pool.split(1024)]).float()
            flat = x.flatten(1) / objective.scale
            tflat = targets.flatten(1) / objective.scale
            d = torch.cdist(tflat, flat).square()  # (n, starts) summed squared distance
            pix = d / flat.shape[1] if objective.images else d
            fit = pix
            if objective.feature_fn is not None:
                f = objective.feature_fn(x)
                fit = pix + objective.weight * torch.cdist(objective.tf, f).square() / objective.tf_norm[:, None]
            value, index = fit.min(1)
            best_z.append(pool[index])
            best_fit.append(value)
    return torch.cat(best_z), torch.cat(best_fit)


def project(g: torch.nn.Module, cfg, spec: DataSpec, target, *, steps: int = STEPS, feature_fn=None,
            prior_weight: float = PRIOR_WEIGHT, label: Optional[int] = None, seed: int = 0,
            progress: Optional[Progress] = None, starts: int = STARTS, lr: float = LR,
            feature_weight: float = FEATURE_WEIGHT) -> Projection:
    """The latents whose G(z) are closest to `target`: images (N, C, H, W) in [0, 1] or points (N, D).

    feature_fn: differentiable features of images in G's range ((B, ...) -> (B, F)), e.g. the run's
    classifier (ganlab.explore.features.feature_fn); None: pixels alone.
    """
    if not 0 <= int(steps) <= 10_000:
        raise ValueError(f"steps must be between 0 and 10,000, got {steps}")
    if not 1 <= int(starts) <= 100_000:
        raise ValueError(f"starts must be between 1 and 100,000, got {starts}")
    device = next(g.parameters()).device
    targets = _targets(target, spec).to(device)
    n = len(targets)
    num_classes = getattr(g, "num_classes", 0)
    if num_classes:
        if label is not None and not (isinstance(label, (int, np.integer)) and 0 <= label < num_classes):
            raise ValueError(f"class {label!r} does not exist; this run has classes 0-{num_classes - 1}")
        classes: list[Optional[int]] = [int(label)] if label is not None else list(range(num_classes))
        rule = "given" if label is not None else "best of every class"
    elif label is not None:
        raise ValueError("this run is not conditional: it takes no class")
    else:
        classes, rule = [None], ""
    objective = _Objective(spec, feature_fn, feature_weight)
    objective.prepare(targets)
    rows = torch.arange(n, device=device).repeat(len(classes))  # row r: class classes[r // n], target r % n
    y = None if classes == [None] else torch.tensor(classes, device=device).repeat_interleave(n)
    z0, start_fit = _best_starts(g, objective, targets, classes, cfg, int(starts), seed, device)
    flags = [p.requires_grad for p in g.parameters()]
    g.requires_grad_(False)  # gradients go to z only; G may be shared (the page's cached explorer)
    try:
        best_z, best_fit, history = _optimise(g, objective, z0, y, rows, start_fit, cfg, int(steps), prior_weight, lr, seed,
                                     progress, n, len(classes))
    finally:
        for p, f in zip(g.parameters(), flags):
            p.requires_grad_(f)
    # per target, the class whose best fit is lowest
    fits = best_fit.reshape(len(classes), n)
    pick = fits.argmin(0)  # (n,)
    chosen = pick * n + torch.arange(n, device=device)
    z, start_chosen = best_z[chosen], z0.reshape(len(classes), n, -1)[pick, torch.arange(n, device=device)]
    labels = None if y is None else y[chosen]
    with torch.no_grad():
        x = g(z, labels).float()
        x_start = g(start_chosen, labels).float()
        err, ferr = _errors(objective, x, spec)
        base, _ = _errors(objective, x_start, spec)
    return Projection(z.cpu().numpy(), to_unit(x, spec).astype(np.float32), err, ferr,
                      None if labels is None else labels.cpu().numpy(), base, history, rule)


def _errors(objective: _Objective, x: torch.Tensor, spec: DataSpec) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(pixel RMSE in [0, 1] units or Euclidean distance, feature distance or None) against the targets in order."""
    rows = torch.arange(len(x), device=x.device)
    pix, feat = objective.parts(x, rows)
    err = pix.sqrt().cpu().numpy().astype(np.float64)
    ferr = None
    if feat is not None:
        ferr = (feat * objective.tf_norm).sqrt().cpu().numpy().astype(np.float64)
    return err, ferr


def _optimise(g, objective: _Objective, z0: torch.Tensor, y, rows, start_fit, cfg, steps: int, prior_weight: float,
              lr: float, seed: int, progress, n: int, n_classes: int):
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
    best_z, best_fit = z0.clone(), start_fit.clone()
    gen = torch.Generator().manual_seed(int(seed) + 1)
    history = [_mean_best(best_fit, n, n_classes)]
    for step in range(steps):
        t = step / max(steps, 1)
        for group in opt.param_groups:
            group["lr"] = _lr(t, lr)
        noise_scale = NOISE * max(0.0, 1.0 - t / 0.75) ** 2
        noise = torch.randn(z.shape, generator=gen).to(z) * noise_scale
        x = g(z + noise, y).float()
        pix, feat = objective.parts(x, rows)
        fit = objective.fit(pix, feat)
        loss = (fit + prior_weight * _prior_term(z, cfg.latent_dist)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            better = fit.detach() < best_fit  # judged at the point just measured (with its noise: exact once it fades)
            if noise_scale == 0.0:
                best_z[better] = z.detach()[better]
                best_fit[better] = fit.detach()[better]
        opt.step()
        if cfg.latent_dist != "normal":
            with torch.no_grad():
                z.clamp_(-1.0, 1.0)
        history.append(_mean_best(best_fit, n, n_classes))
        if progress is not None:
            progress(step + 1, steps, history[-1])
    with torch.no_grad():  # the last point too
        x = g(z.detach(), y).float()
        fit = objective.fit(*objective.parts(x, rows))
        better = fit < best_fit
        best_z[better], best_fit[better] = z.detach()[better], fit[better]
        history[-1] = _mean_best(best_fit, n, n_classes)
    return best_z, best_fit, np.asarray(history)


def _mean_best(best_fit: torch.Tensor, n: int, n_classes: int) -> float:
    return float(best_fit.reshape(n_classes, n).min(0).values.mean())
