"""The game as GAN Lab draws it, for point data of any dimension: one frame of plain numpy arrays per call.

A frame (the contract of issue #17) holds, in one plane of the data space: the real and fake points,
G's gradient arrows on each fake point, D's surface, G's deformed latent grid (its manifold) with each
cell's density, and both losses. Nothing here moves the trainer: no weight, gradient, BatchNorm buffer,
spectral-norm vector, optimizer or RNG state changes (D is judged in eval mode, the fakes are leaves).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np
import torch

from ..errors import UsageError
from ..evaluation.metrics import histogram_divergence
from ..game.losses import d_prob
from ..models.latents import z_batch
from ..training import Trainer
from .fixed import POINTS, preview_fake_labels, preview_inputs, preview_real_labels

GRID = 64  # D's surface is evaluated on GRID x GRID points
CELLS = 20  # the latent grid has CELLS x CELLS cells
PRIOR_BULK = {"uniform": 1.0, "normal": 2.5}  # the latent grid spans ±this: all of U(-1, 1), ±2.5σ of N(0, 1)
WATCH_POINTS = 2000  # real points and fixed latents the divergence watch compares

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _coord(letter: str, i: int) -> str:
    return f"{letter}{str(i).translate(_SUB)}"


def _dim(trainer: Trainer) -> int:
    return int(np.prod(trainer.spec.shape))


@contextmanager
def eval_mode(module: torch.nn.Module):
    """The module in eval mode for the block: BatchNorm reads its running stats, spectral norm does not iterate."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)


# ------------------------------------------------------------------ the plane
def plane_of(real: np.ndarray) -> dict[str, Any]:
    """The plane a frame is drawn in: the data's own axes for 1-D and 2-D data, else the real points' top two
    principal components (rows of `basis` orthonormal, each signed so its largest entry is positive)."""
    x = np.asarray(real, dtype=np.float64).reshape(len(real), -1)
    d = x.shape[1]
    if d <= 2:
        basis = np.eye(2, d, dtype=np.float32)  # 1-D data: the plane (x₀, 0)
        name = "x₀, x₁" if d == 2 else "x₀ (1-D data: the second axis is 0)"
        return {"name": name, "origin": np.zeros(d, np.float32), "basis": basis}
    x = x[np.isfinite(x).all(1)]
    if len(x) < 2:
        return {"name": "x₀, x₁ (too few real points for a PCA)", "origin": np.zeros(d, np.float32),
                "basis": np.eye(2, d, dtype=np.float32)}
    origin = x.mean(0)
    _, s, vt = np.linalg.svd(x - origin, full_matrices=False)
    basis = vt[:2] * np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(1)])[:, None]
    share = float((s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-30))
    return {"name": f"PCA of the real data: PC1, PC2 ({share:.0%} of the variance)",
            "origin": origin.astype(np.float32), "basis": basis.astype(np.float32)}


_PLANES: weakref.WeakKeyDictionary[Trainer, dict] = weakref.WeakKeyDictionary()


def data_plane(trainer: Trainer) -> dict[str, Any]:
    """The run's plane, fixed per run: the PCA of the preview's fixed real points, made once per trainer."""
    hit = _PLANES.get(trainer)
    if hit is None:
        hit = _PLANES[trainer] = plane_of(preview_inputs(trainer, POINTS)[1])
        for a in (hit["origin"], hit["basis"]):
            a.flags.writeable = False  # shared by every frame of the run
    return hit


def project(points: np.ndarray, plane: dict[str, Any]) -> np.ndarray:
    """(n, D) data points -> (n, 2) plane coordinates."""
    x = np.asarray(points, dtype=np.float32).reshape(len(points), -1)
    return ((x - plane["origin"]) @ plane["basis"].T).astype(np.float32, copy=False)


def lift(uv: np.ndarray, plane: dict[str, Any]) -> np.ndarray:
    """(k, 2) plane coordinates -> (k, D) data points: origin + u·b₀ + v·b₁."""
    return (plane["origin"] + np.asarray(uv, np.float32) @ plane["basis"]).astype(np.float32, copy=False)


# ------------------------------------------------------------------ D's surface
@torch.no_grad()
def d_surface(trainer: Trainer, pts: np.ndarray, plane: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """D's output on a square grid over the plane covering `pts` (plane coordinates, a 10% margin), as GAN Lab draws it.

    Without a plane the points are the data's own 2-D coordinates."""
    finite = pts[np.isfinite(pts).all(1)]
    lo, hi = (finite.min(0), finite.max(0)) if len(finite) else (np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    pad = np.maximum((hi - lo) * 0.1, 0.25)
    lo, hi = lo - pad, hi + pad
    # a square: the page draws the plane with equal axes, and a surface of the points' box alone left white bands
    half, mid = float((hi - lo).max()) / 2, (lo + hi) / 2
    lo, hi = mid - half, mid + half
    xs = np.linspace(lo[0], hi[0], GRID, dtype=np.float32)
    ys = np.linspace(lo[1], hi[1], GRID, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    if plane is not None:
        grid = lift(grid, plane)
    x = torch.from_numpy(grid).to(trainer.device).view(-1, *trainer.spec.shape)
    with eval_mode(trainer.D) as d:
        z = d_prob(trainer.loss, d(x).float()).reshape(GRID, GRID).cpu().numpy()
    return {"xs": xs, "ys": ys, "z": z, "label": trainer.loss.d_label, "probability": trainer.loss.to_prob}


# ------------------------------------------------------------------ G's gradient arrows
def _judge(trainer: Trainer, fake: torch.Tensor, fake_y, real: Optional[torch.Tensor] = None, real_y=None):
    """∂(Σᵢ G's loss on fake i)/∂fake, and (with real points) both losses, from one D forward and backward.

    The fakes are leaves, so the gradient stops at the sample (G is not involved), and D's parameters
    take no part in the graph (requires_grad off for the call, as the trainer's G step does): their .grad
    are never written and no weight gradient is computed. Every loss's g_loss is the mean of per-sample
    terms, so n·g_loss is the sum whose gradient is each sample's own pull. The real points only need a
    forward pass, without a graph (half the backward of one pass over both).
    """
    leaf = fake.detach().float().clone().requires_grad_(True)
    params = [p for p in trainer.D.parameters() if p.requires_grad]
    with eval_mode(trainer.D) as d:
        for p in params:
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                fake_out = d(leaf, fake_y).float()
                g_loss = trainer.loss.g_loss(fake_out)
                (grad,) = torch.autograd.grad(g_loss * fake_out.numel(), leaf)
            if real is None:
                return grad, None
            with torch.no_grad():
                real_out = d(real.float(), real_y).float()
        finally:
            for p in params:
                p.requires_grad_(True)
    with torch.no_grad():
        m = min(len(real), len(leaf))  # a dataset smaller than the preview: pairs for the losses that pair samples
        d_loss = trainer.loss.d_loss(real_out[:m], fake_out[:m].detach(), margin=trainer.cfg.margin,
                                     real_x=real[:m].float(), fake_x=leaf[:m].detach())
    return grad, {"d": float(d_loss), "g": float(g_loss.detach())}


def g_gradients(trainer: Trainer, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> tuple[np.ndarray, np.ndarray]:
    """(fake (n, D), grad (n, D)): the playing G's samples of z (never its EMA) and the gradient of the SUM of
    G's per-sample loss with respect to each; GAN Lab's arrows are its negative (where G's update pushes them)."""
    fake = trainer.generate(z, y, player=True)
    grad, _ = _judge(trainer, fake, y)
    n = len(fake)
    return fake.reshape(n, -1).cpu().numpy(), grad.reshape(n, -1).cpu().numpy()


# ------------------------------------------------------------------ G's manifold
def _cell_mass(ticks: np.ndarray, dist: str) -> np.ndarray:
    """Each grid interval's share of the prior's (1-D marginal) mass."""
    if dist == "uniform":
        return np.diff(ticks) / 2.0
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(ticks / math.sqrt(2.0)))
    return np.diff(cdf)


def _shoelace(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed area of every quadrilateral cell (i, j) -> (i, j+1) -> (i+1, j+1) -> (i+1, j) of a vertex grid."""
    corners = [(slice(None, -1), slice(None, -1)), (slice(None, -1), slice(1, None)),
               (slice(1, None), slice(1, None)), (slice(1, None), slice(None, -1))]
    xs = [u[c].astype(np.float64) for c in corners]
    ys = [v[c].astype(np.float64) for c in corners]
    return 0.5 * sum(xs[k] * ys[(k + 1) % 4] - xs[(k + 1) % 4] * ys[k] for k in range(4))


def cell_density(u: np.ndarray, v: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(density normalised to max 1, degenerate cells, folded cells) of a deformed grid (rows, cols) of vertices.

    density = prior mass / deformed size (area, or length for a curve of one row). A cell whose size is
    below 1e-6 of a typical cell's (a G that collapses it to a line or a point) gets density 1 and is
    counted as degenerate; a cell whose orientation is flipped against most cells (a G that folds the
    grid onto itself) is counted as folded; its density uses its absolute area.
    """
    extent = max(float(np.ptp(u)), float(np.ptp(v)), 1e-30) if u.size else 1e-30
    if u.shape[0] == 1:  # a 1-D latent: a curve of segments
        signed = np.hypot(np.diff(u, axis=1), np.diff(v, axis=1)).astype(np.float64)
        typical = extent / max(u.shape[1] - 1, 1)
    else:
        signed = _shoelace(u, v)
        typical = (extent / max(u.shape[1] - 1, u.shape[0] - 1, 1)) ** 2
    size = np.abs(signed)
    degenerate = ~(size > 1e-6 * typical)  # NaN sizes (a diverged G) are degenerate too
    density = np.ones(size.shape, np.float64)
    ok = ~degenerate
    if ok.any():
        density[ok] = mass[ok] / size[ok]
        density[ok] /= density[ok].max()
    folded = 0
    if u.shape[0] > 1 and ok.any():
        orient = np.sign(signed[ok])
        folded = int(min((orient > 0).sum(), (orient < 0).sum()))
    return density.astype(np.float32), int(degenerate.sum()), folded


def _manifold_name(trainer: Trainer, dims: tuple[int, ...], base: np.ndarray, r: float) -> str:
    cfg = trainer.cfg
    span = f"[-{r:g}, {r:g}]" + (f" (±{r:g}σ of the prior)" if cfg.latent_dist == "normal" else "")
    parts = [f"{', '.join(_coord('z', i) for i in dims)} over {span}"]
    if cfg.latent_dim > len(dims):
        parts.append("other coordinates 0 (the prior's mean)" if not base.any() else "other coordinates at the chosen base")
    if cfg.latent_mixture:
        k = cfg.latent_mixture
        if 0 in dims:
            parts.append(f"z₀ also picks one of {k} latent islands, so the grid crosses their borders, where G jumps")
        else:
            u = 0.5 * (1.0 + math.erf(float(base[0]) / math.sqrt(2.0)))
            parts.append(f"inside latent island {min(int(u * k), k - 1)} of {k} (picked by z₀ = {float(base[0]):g})")
    if trainer.num_classes:
        parts.append("for class 0")
    return ", ".join(parts)


def latent_manifold(trainer: Trainer, cells: int = CELLS, dims: Optional[Sequence[int]] = None,
                    base: Optional[Sequence[float]] = None, plane: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """G's transformed latent grid: (cells+1)² latent vertices over the prior's bulk (cells+1 for a 1-D latent),
    varying `dims` (default the first two coordinates), the others at `base` (default the prior's mean, 0),
    pushed through the playing G (never its EMA: what a G step moves) and projected on the plane.

    u, v: (rows, cells+1) vertices, rows = cells+1 (or 1 for a 1-D latent: a curve); density: (rows-1 or 1, cells).
    """
    cfg = trainer.cfg
    latent = cfg.latent_dim
    dims = tuple(int(i) for i in (dims if dims is not None else range(min(2, latent))))
    if not 1 <= len(dims) <= 2 or len(set(dims)) != len(dims) or not all(0 <= i < latent for i in dims):
        raise UsageError(f"the manifold varies one or two distinct latent coordinates between 0 and {latent - 1}; "
                         f"got {list(dims)}")
    if cells < 1:
        raise UsageError(f"the manifold needs at least one cell a side; got {cells}")
    base_z = np.zeros(latent, np.float32) if base is None else np.asarray(base, np.float32).reshape(-1)
    if base_z.shape != (latent,):
        raise UsageError(f"the manifold's base must have {latent} coordinates (the latent size); got {base_z.size}")
    plane = plane if plane is not None else data_plane(trainer)
    r = PRIOR_BULK.get(cfg.latent_dist, 2.5)
    ticks = np.linspace(-r, r, cells + 1)
    rows = cells + 1 if len(dims) == 2 else 1
    z = np.tile(base_z, (rows, cells + 1, 1))
    z[:, :, dims[0]] = ticks[None, :]
    if len(dims) == 2:
        z[:, :, dims[1]] = ticks[:, None]
    zt = torch.from_numpy(z.reshape(-1, latent)).to(trainer.device)
    y = torch.zeros(len(zt), dtype=torch.long, device=trainer.device) if trainer.num_classes else None
    uv = project(trainer.generate(zt, y, player=True).reshape(len(zt), -1).cpu().numpy(), plane)
    u, v = uv[:, 0].reshape(rows, cells + 1), uv[:, 1].reshape(rows, cells + 1)
    mass_x = _cell_mass(ticks, cfg.latent_dist)
    mass = np.outer(mass_x, mass_x) if len(dims) == 2 else mass_x[None, :]
    density, degenerate, folded = cell_density(u, v, mass)
    return {"u": u, "v": v, "density": density, "dims": dims, "degenerate": degenerate, "folded": folded,
            "name": _manifold_name(trainer, dims, base_z, r)}


# ------------------------------------------------------------------ the frame
@torch.no_grad()
def game_frame(trainer: Trainer, *, fake: Optional[np.ndarray] = None,
               surface: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """One frame of the game (the format of issue #17's contract), at the trainer's step.

    fake, surface: the preview's own G(fixed z) and D surface of this step, when it has them (2-D data), so
    the frame reuses them instead of computing them again (the preview runs every 0.5 s on the trainer's thread).
    """
    z, real = preview_inputs(trainer, POINTS)
    plane = data_plane(trainer)
    fake_y = preview_fake_labels(trainer, len(z))
    fake_t = (trainer.generate(z, fake_y, player=True) if fake is None
              else torch.from_numpy(np.asarray(fake)).to(trainer.device))
    real_t = torch.tensor(real, device=trainer.device)
    grad, losses = _judge(trainer, fake_t, fake_y, real_t, preview_real_labels(trainer, len(real)))
    n = len(fake_t)
    fake_np = fake_t.reshape(n, -1).cpu().numpy() if fake is None else np.asarray(fake).reshape(n, -1)
    frame: dict[str, Any] = {
        "step": int(trainer.step), "plane": plane,
        "real": project(real, plane), "fake": project(fake_np, plane),
        "arrows": (-grad.reshape(n, -1).cpu().numpy() @ plane["basis"].T).astype(np.float32),
        "losses": losses,
    }
    if trainer.num_classes == 0:  # a conditional D needs a label per point of the surface
        frame["surface"] = surface if surface is not None else d_surface(
            trainer, np.concatenate([frame["real"], frame["fake"]]), plane if _dim(trainer) != 2 else None)
    if trainer.cfg.latent_dim >= 1:
        frame["manifold"] = latent_manifold(trainer, plane=plane)
    return frame


# ------------------------------------------------------------------ the divergence watch
_WATCH: weakref.WeakKeyDictionary[Trainer, tuple] = weakref.WeakKeyDictionary()


def _watch_inputs(trainer: Trainer) -> tuple:
    """2,000 fixed real points (in the plane), 2,000 fixed latents and the histogram's bounds, made once per
    trainer from seeded latents (not the training RNG, so a watched run trains exactly as an unwatched one)."""
    hit = _WATCH.get(trainer)
    if hit is None:
        z = z_batch(range(30_000, 30_000 + WATCH_POINTS), trainer.cfg.latent_dim, trainer.cfg.latent_dist,
                    trainer.device)
        y = torch.arange(WATCH_POINTS, device=trainer.device) % trainer.num_classes if trainer.num_classes else None
        real = project(trainer.data.take(WATCH_POINTS, seed=2)[0].cpu().numpy(), data_plane(trainer))
        hit = _WATCH[trainer] = (z, y, real)
    return hit


def divergence_watch(trainer: Trainer) -> dict[str, float]:
    """Div/KL and Div/JS of 30×30 histograms (metrics.histogram_divergence) of fresh fakes against fixed real
    points, in the run's plane: a tick record's GAN Lab grid metric. It scores G as sampled (its EMA when the
    run keeps one), like eval's metrics, not the playing G the game view draws."""
    z, y, real = _watch_inputs(trainer)
    fake = project(trainer.generate(z, y).reshape(len(z), -1).cpu().numpy(), data_plane(trainer))
    div = histogram_divergence(real, fake)
    return {"Div/KL": div["KL"], "Div/JS": div["JS"]}


def has_game(trainer: Trainer) -> bool:
    """Does this run get game frames and the divergence watch? Point data of 2 or more dimensions."""
    return trainer.spec.kind == "points" and _dim(trainer) >= 2
