"""Meaningful directions in a trained G's latent space: SeFa and GANSpace without labels, InterFaceGAN with them.

Each finder returns unit vectors in the latent coordinates of ganlab.explore.space (z, or the within-island
latent of a latent mixture) with a score that says how much each one matters:
  - SeFa (Shen & Zhou 2021): closed form, no samples. G's first layer is y = A z + b, so moving z by n
    moves y by A n; the n that move y most are the top eigenvectors of AᵀA (score: eigenvalue). Only the
    latent columns of A count (a conditional G's class columns are not z). With a latent mixture, island
    k's first layer sees sigma_k * z~, so A is A_z diag(sigma_k): SeFa is per island (`island`, default 0).
  - GANSpace (Härkönen et al. 2020): PCA of an early layer's activations over samples; each principal
    component is mapped back to the latent by least squares of z on the PC coordinates (score: explained
    variance ratio). Activations are centred per class and per island, so class offsets are not components.
  - InterFaceGAN (Shen et al. 2020): a logistic-regression boundary in z between samples the run's
    classifier reads as class a and as class b; its normal points from a to b (score: held-out accuracy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..errors import RunError
from ..models import ARCHS
from ..registry import Registry
from . import space

PCA_N = 2000  # samples GANSpace's PCA reads (digits' first layer has 64-512 units: 2000 pins its top PCs)
BOUNDARY_N = 4000  # samples the class boundary is fitted on (a quarter held out for its accuracy)
MIN_PER_CLASS = 20  # fewer samples of either class than this and the boundary would be noise


@dataclass(frozen=True)
class Directions:
    method: str  # "sefa" | "pca" | "boundary"
    vectors: np.ndarray  # (k, latent_dim) unit rows
    scores: np.ndarray  # (k,) eigenvalues, explained-variance ratios or the boundary's accuracy
    score_name: str  # "eigenvalue" | "explained variance" | "accuracy"
    names: list[str]  # "SeFa 1", "PC 3", "3 → 8"
    layer: str  # which weight or layer they come from

    def __len__(self) -> int:
        return len(self.vectors)


def _arch(g: torch.nn.Module, arch: Optional[str]):
    if arch is not None:
        return ARCHS.get(arch)
    for entry in ARCHS:
        if entry.obj.g_class is not None and isinstance(g, entry.obj.g_class):
            return entry.obj
    raise RunError(f"{type(g).__name__} is no architecture ganlab knows the first latent weight of")


def _check_k(k: int, most: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k:
        raise ValueError(f"k must be a whole number of directions from 1 to {most}, got {k!r}")
    return min(int(k), most)


def latent_columns(g: torch.nn.Module, arch: Optional[str] = None, island: int = 0) -> np.ndarray:
    """A (out, latent_dim): G's first weight on the latent coordinates (class and island columns dropped)."""
    a = _arch(g, arch)
    if a.latent_weight is None:
        raise RunError("this architecture does not say where its first latent weight is")
    w = a.latent_weight(g).double().cpu().numpy()
    dim = g.latent_dim
    cols = w[:, :dim]
    prior = space.prior_of(g)
    if prior is not None:
        if not 0 <= int(island) < prior.components:
            raise ValueError(f"island {island} does not exist; this run has islands 0-{prior.components - 1}")
        cols = cols * prior.log_sigma[int(island)].detach().exp().double().cpu().numpy()[None, :]
    return cols


def sefa(g: torch.nn.Module, k: int, *, arch: Optional[str] = None, island: int = 0) -> Directions:
    """The top-k eigenvectors of AᵀA, A = G's first weight on the latent; eigenvalues sorted, largest first."""
    a = latent_columns(g, arch, island)
    k = _check_k(k, a.shape[1])
    values, vectors = np.linalg.eigh(a.T @ a)  # ascending
    order = np.argsort(values)[::-1][:k]
    where = f"{_arch(g, arch).early_layer}.weight" + (f", island {island}" if space.prior_of(g) is not None else "")
    return Directions("sefa", vectors[:, order].T.copy(), values[order].copy(), "eigenvalue",
                      [f"SeFa {i + 1}" for i in range(k)], where)


# ---------------------------------------------------------------- GANSpace


def sample_latents(cfg, n: int, seed: int = 0) -> torch.Tensor:
    """(n, latent_dim) draws from the run's prior, from their own generator (the global RNG is left alone)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, cfg.latent_dim)) if cfg.latent_dist == "normal" else \
        rng.uniform(-1.0, 1.0, (n, cfg.latent_dim))
    return torch.from_numpy(z.astype(np.float32))


@torch.no_grad()
def layer_activations(g: torch.nn.Module, layer: str, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> np.ndarray:
    """(N, F) float64: the named module's output for G(z, y), flattened."""
    modules = dict(g.named_modules())
    if layer not in modules:
        raise ValueError(f"G has no layer {layer!r}; its layers: {', '.join(n for n in modules if n)}")
    seen: list[torch.Tensor] = []
    hook = modules[layer].register_forward_hook(lambda m, i, out: seen.append(out.detach().flatten(1)))
    try:
        device = next(g.parameters()).device
        g(z.to(device), None if y is None else y.to(device))
    finally:
        hook.remove()
    return seen[0].double().cpu().numpy()


def _centre_per_group(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = x.copy()
    for gid in np.unique(groups):
        rows = groups == gid
        out[rows] -= x[rows].mean(0)
    return out


def pca_directions(g: torch.nn.Module, cfg, k: int, n: int = PCA_N, layer: Optional[str] = None, seed: int = 0,
                   label: Optional[int] = None) -> Directions:
    """GANSpace: PCA of `layer`'s activations (default: the architecture's early layer) mapped back to the latent.

    The latent basis U solves min |X U - Z|² (X: the samples' PC coordinates, Z: their latents), so moving
    along U's row i moves the layer along PC i (exactly so when the layer is linear in z).
    """
    layer = layer or _arch(g, cfg.arch).early_layer
    if not 10 <= int(n) <= 100_000:
        raise ValueError(f"n must be between 10 and 100,000 samples, got {n}")
    z = sample_latents(cfg, int(n), seed)
    num_classes = getattr(g, "num_classes", 0)
    y = None
    if num_classes:
        y = torch.full((n,), int(label)) if label is not None else torch.arange(n) % num_classes
    acts = layer_activations(g, layer, z, y)
    island, inner = space.to_inner(g, z)
    groups = np.zeros(n, dtype=np.int64)
    if y is not None:
        groups += y.numpy()
    if island is not None:
        groups = groups * 10_000 + island.numpy()
    acts_c = _centre_per_group(acts, groups)
    inner_c = _centre_per_group(inner.double().numpy(), groups)
    k = _check_k(k, min(acts.shape[1], inner_c.shape[1], n - 1))
    _, s, vt = np.linalg.svd(acts_c, full_matrices=False)
    ratios = s ** 2 / (s ** 2).sum()
    coords = acts_c @ vt[:k].T  # (n, k)
    basis, *_ = np.linalg.lstsq(coords, inner_c, rcond=None)  # (k, dim)
    vectors = basis / np.linalg.norm(basis, axis=1, keepdims=True)
    return Directions("pca", vectors, ratios[:k].copy(), "explained variance", [f"PC {i + 1}" for i in range(k)],
                      f"{layer} output")


# ---------------------------------------------------------------- InterFaceGAN


@torch.no_grad()
def class_boundary(g: torch.nn.Module, cfg, classifier, a: int, b: int, n: int = BOUNDARY_N, seed: int = 0) -> Directions:
    """The unit normal of a linear boundary in the latent between samples read as class a and as class b."""
    from sklearn.linear_model import LogisticRegression

    if cfg.conditional:
        raise RunError("this run is conditional: its class is an input, so choose the class instead of walking a "
                       "boundary (boundaries are for unconditional runs on labelled data)")
    if classifier is None:
        raise RunError("a class boundary needs labelled images (a classifier reads G's samples); this run's data has "
                       "no labels, so use sefa or pca")
    num = classifier.num_classes
    for c in (a, b):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < num:
            raise ValueError(f"class {c!r} does not exist; this dataset has classes 0-{num - 1}")
    if a == b:
        raise ValueError(f"a boundary needs two different classes, got {a} and {b}")
    z = sample_latents(cfg, int(n), seed)
    device = next(g.parameters()).device
    pred = np.concatenate([classifier.predict(g(zz.to(device)).float()) for zz in z.split(1024)])
    keep = (pred == a) | (pred == b)
    n_a, n_b = int((pred == a).sum()), int((pred == b).sum())
    if min(n_a, n_b) < MIN_PER_CLASS:
        raise RunError(f"of {n:,} samples the classifier reads {n_a} as class {a} and {n_b} as class {b}; a boundary "
                       f"needs {MIN_PER_CLASS} of each: train the run longer or pick classes it makes")
    x = space.to_inner(g, z)[1].double().numpy()[keep]
    t = (pred[keep] == b).astype(int)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * 0.75)
    fit, held = order[:cut], order[cut:]
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x[fit], t[fit])
    accuracy = float(model.score(x[held], t[held])) if len(held) else float("nan")
    normal = model.coef_.reshape(-1)
    return Directions("boundary", (normal / np.linalg.norm(normal))[None, :], np.array([accuracy]), "accuracy",
                      [f"{a} → {b}"], "latent (logistic regression on the classifier's labels)")


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class DirectionMethod:
    find: Callable[..., Directions]  # (g, cfg, k, classifier=None, **options) -> Directions
    score_name: str
    needs_labels: bool = False  # only for unconditional runs on labelled images (a classifier reads the samples)


DIRECTION_METHODS: Registry[DirectionMethod] = Registry("direction method")
DIRECTION_METHODS.add("sefa", DirectionMethod(lambda g, cfg, k, classifier=None, **kw: sefa(g, k, arch=cfg.arch, **kw),
                                              "eigenvalue"),
                      "SeFa: closed-form directions, the top eigenvectors of G's first weight (no samples)")
DIRECTION_METHODS.add("pca", DirectionMethod(lambda g, cfg, k, classifier=None, **kw: pca_directions(g, cfg, k, **kw),
                                             "explained variance"),
                      "GANSpace: principal components of an early layer's activations, mapped back to z")
DIRECTION_METHODS.add("boundary", DirectionMethod(
    lambda g, cfg, k, classifier=None, a=0, b=1, **kw: class_boundary(g, cfg, classifier, a, b, **kw),
    "accuracy", needs_labels=True),
    "InterFaceGAN: the normal of a linear boundary in z between two classes the run's classifier reads")


def find_directions(method: str, g: torch.nn.Module, cfg, k: int, classifier=None, **options) -> Directions:
    if method not in DIRECTION_METHODS:
        raise ValueError(f"unknown direction method {method!r}; choose one of: {', '.join(DIRECTION_METHODS.names())}")
    return DIRECTION_METHODS.get(method).find(g, cfg, k, classifier=classifier, **options)
