"""Precision, recall, density and coverage of generated samples against real ones, in any feature space.

Why four numbers beside FD: FD folds fidelity and diversity into one distance, so a generator that makes
only perfect 3s and one that makes blurry digits of every class can score alike. These split the two:
precision and density ask "does each fake look real?", recall and coverage "is every real thing made?".
The truncation trick moves them in opposite directions, which is what its chart shows.

Definitions (k-NN balls, k = 5 by default):
  - precision (Kynkäänniemi et al. 2019): the share of fakes inside at least one real sample's ball,
    the ball of real r having the radius of r's k-th nearest other real sample;
  - recall (same paper): the share of reals inside at least one fake's ball (radii among the fakes);
  - density (Naeem et al. 2020): how many real balls contain each fake, divided by k, averaged. About 1
    when fakes are distributed like the reals; above 1 when they crowd the dense regions; robust to
    outliers among the reals where precision is not;
  - coverage (same paper): the share of reals whose own ball contains at least one fake.
Distances are Euclidean; rows that are not finite (a diverged G) sit in no ball and hold no ball.
"""

from __future__ import annotations

import numpy as np

CHUNK = 1024  # rows per distance block: 1024 x 10,000 float64 is 80 MB


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, clipped at 0 against rounding."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """(N,) distance from each row to its k-th nearest other row."""
    out = np.empty(len(x))
    for i in range(0, len(x), CHUNK):
        d = _sq_dists(x[i:i + CHUNK], x)
        d[np.arange(len(d)), np.arange(i, i + len(d))] = np.inf  # a row is not its own neighbour
        out[i:i + CHUNK] = np.sqrt(np.partition(d, k - 1, axis=1)[:, k - 1])
    return out


def _inside_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per point: how many balls hold it (P,), per centre: whether some point lies in its ball (C,))."""
    counts = np.zeros(len(points), dtype=np.int64)
    hit = np.zeros(len(centres), dtype=bool)
    r2 = radii ** 2 * (1 + 1e-9) + 1e-12  # the k-th neighbour is on its ball's edge: rounding must not push it out
    for i in range(0, len(points), CHUNK):
        inside = _sq_dists(points[i:i + CHUNK], centres) <= r2[None, :]
        counts[i:i + CHUNK] = inside.sum(1)
        hit |= inside.any(0)
    return counts, hit


def prdc(real_features, fake_features, k: int = 5) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of (M, F) fakes against (N, F) reals, each in [0, 1]
    but density (>= 0, about 1 for a perfect generator)."""
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real {real.shape} and fake {fake.shape} features must be (N, F) and (M, F)")
    if not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"k = {k} needs more than {k} real and fake samples, got {len(real)} and {len(fake)}")
    real = real[np.isfinite(real).all(1)]
    ok = np.isfinite(fake).all(1)
    n_fake, fake = len(fake), fake[ok]
    if len(real) <= k or len(fake) <= k:
        return {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    real_r, fake_r = knn_radii(real, k), knn_radii(fake, k)
    per_fake, covered = _inside_counts(fake, real, real_r)  # how many real balls hold each fake
    per_real, _ = _inside_counts(real, fake, fake_r)  # how many fake balls hold each real
    return {
        "precision": float((per_fake > 0).sum() / n_fake),
        "recall": float((per_real > 0).mean()),
        "density": float(per_fake.sum() / (k * n_fake)),
        "coverage": float(covered.mean()),
    }
