"""Distribution distances for point data that has no known centres: numpy in, floats out.

A distance alone does not say whether a GAN is good: two samples of the same distribution are
never at distance 0. So each distance comes beside its floor, the same distance between the
data's training split and the held-out points, which is what a perfect G would score with as
many samples (`distribution_metrics`).

- sliced Wasserstein (SW2): the root mean squared 1-D Wasserstein-2 distance between the two
  sets projected on 128 fixed random directions (seeded: the same directions on every call);
  in the data's units; it sees a missing mode and a shifted or scaled copy alike.
- energy distance (Székely & Rizzo): 2 E|X-Y| - E|X-X'| - E|Y-Y'| over all pairs (V-statistics,
  so it is never negative); 0 only for equal distributions; in the data's units, so it scales
  with the data as SW does (scipy.stats.energy_distance reports its square root).
- for 2-D data, GAN Lab's grid metric: KL(real || fake) and JS of 30x30 histograms over the real
  points' box (`metrics.histogram_divergence`, the one the Monitor charts).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import metrics

N_PROJECTIONS = 128
PROJECTION_SEED = 0
HIST_BINS = 30
PAIR_BLOCK = 1024  # rows per block of the pairwise-distance sums (memory: PAIR_BLOCK x len(b) floats)


def _as_points(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or len(a) == 0:
        raise ValueError(f"expected a non-empty (N, D) array of points, got shape {a.shape}")
    return a


def projections(dim: int, n: int = N_PROJECTIONS, seed: int = PROJECTION_SEED) -> np.ndarray:
    """n unit directions in R^dim, the same for the same (dim, n, seed)."""
    d = np.random.default_rng(seed).standard_normal((n, dim))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def sliced_wasserstein(a: Any, b: Any, n_projections: int = N_PROJECTIONS, seed: int = PROJECTION_SEED) -> float:
    """SW2 between two point sets of any sizes (quantile functions compared at max(N, M) levels)."""
    a, b = _as_points(a), _as_points(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the sets have {a.shape[1]} and {b.shape[1]} coordinates")
    dirs = projections(a.shape[1], n_projections, seed)
    pa, pb = np.sort(a @ dirs.T, axis=0), np.sort(b @ dirs.T, axis=0)
    if len(pa) != len(pb):
        levels = (np.arange(max(len(pa), len(pb))) + 0.5) / max(len(pa), len(pb))
        pa, pb = (np.quantile(p, levels, axis=0) for p in (pa, pb))
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs (a_i, b_j), in blocks of rows."""
    b2 = (b * b).sum(1)
    total = 0.0
    for i in range(0, len(a), PAIR_BLOCK):
        block = a[i:i + PAIR_BLOCK]
        d2 = (block * block).sum(1)[:, None] + b2[None, :] - 2.0 * block @ b.T
        total += float(np.sqrt(np.maximum(d2, 0.0)).sum())
    return total / (len(a) * len(b))


def energy_distance(a: Any, b: Any) -> float:
    a, b = _as_points(a), _as_points(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the sets have {a.shape[1]} and {b.shape[1]} coordinates")
    e = 2.0 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b)
    return float(max(e, 0.0))


def distribution_metrics(fake: Any, real: Any, reference: Any, *, note: Optional[str] = None) -> dict[str, Any]:
    """G's samples against held-out real points, each metric beside its floor: `reference` (training points
    G learnt from, as many as `fake` where the data allow) against the same held-out points.

    Non-finite samples (a diverged G) make G's values nan (to_json writes None); the floors stay.
    """
    fake, real, reference = _as_points(fake), _as_points(real), _as_points(reference)
    finite = bool(np.isfinite(fake).all())
    nan = float("nan")
    out: dict[str, Any] = {
        "sliced_wasserstein": sliced_wasserstein(fake, real) if finite else nan,
        "sliced_wasserstein_floor": sliced_wasserstein(reference, real),
        "energy_distance": energy_distance(fake, real) if finite else nan,
        "energy_distance_floor": energy_distance(reference, real),
    }
    if real.shape[1] == 2:
        bounds = metrics.histogram_bounds(np.concatenate([real, reference]))
        fake_hist = metrics.histogram_divergence(real, fake, HIST_BINS, bounds) if finite else {"KL": nan, "JS": nan}
        floor_hist = metrics.histogram_divergence(real, reference, HIST_BINS, bounds)
        out.update({"hist_kl": fake_hist["KL"], "hist_kl_floor": floor_hist["KL"],
                    "hist_js": fake_hist["JS"], "hist_js_floor": floor_hist["JS"]})
    out.update({"n_fake": len(fake), "n_held_out": len(real), "n_reference": len(reference),
                "floor_note": note or "each *_floor is the same metric between the training points and the held-out "
                                      "points: what a perfect G scores with this many samples"})
    return out
