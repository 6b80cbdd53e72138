"""Memorisation check: each generated sample's nearest training images, and which samples are copies.

Why in the classifier's feature space for images: two renderings of the same digit a pixel apart are far
in pixels and near in features, so a copy shifted or re-blurred is still found; pixels are used when the
data has no classifier (unlabelled images) and raw coordinates for points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

CHUNK = 512
COPY_QUANTILE = 0.01  # a sample closer to a training image than 1% of training images are to their nearest other one
COPY_REFERENCE = 1000  # training images that set that distance


def _features(x, feature_fn: Optional[Callable]) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    f = feature_fn(x) if feature_fn is not None else x.reshape(len(x), -1)
    return np.asarray(f, dtype=np.float64)


def _knn(queries: np.ndarray, bank: np.ndarray, k: int, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    bank_sq = (bank * bank).sum(1)
    idx = np.empty((len(queries), k), dtype=np.int64)
    dist = np.empty((len(queries), k))
    for i in range(0, len(queries), CHUNK):
        q = queries[i:i + CHUNK]
        d = np.maximum((q * q).sum(1)[:, None] + bank_sq[None, :] - 2.0 * q @ bank.T, 0.0)
        if exclude_self:
            d[np.arange(len(q)), np.arange(i, i + len(q))] = np.inf
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(d, part, 1).argsort(1)
        idx[i:i + CHUNK] = np.take_along_axis(part, order, 1)
        dist[i:i + CHUNK] = np.sqrt(np.take_along_axis(d, idx[i:i + CHUNK], 1))
    return idx, dist


def nearest_training(samples, dataset_x, k: int = 3, feature_fn: Optional[Callable] = None,
                     dataset_features: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices (N, k), distances (N, k)) of each sample's k nearest rows of dataset_x, nearest first.

    feature_fn maps display-form samples (N, ...) to (N, F) features; None: raw coordinates / pixels.
    dataset_features: dataset_x's features when already computed (they are the expensive part).
    """
    bank = dataset_features if dataset_features is not None else _features(dataset_x, feature_fn)
    if not 1 <= int(k) <= len(bank):
        raise ValueError(f"k must be between 1 and {len(bank)} (the training images), got {k}")
    queries = _features(samples, feature_fn)
    if queries.shape[1:] != bank.shape[1:]:
        raise ValueError(f"samples {np.asarray(samples).shape[1:]} and training data "
                         f"{np.asarray(dataset_x).shape[1:]} have different shapes")
    if not np.isfinite(queries).all():
        raise ValueError("the samples hold NaN or infinite values")
    return _knn(queries, bank, int(k))


def copy_distance(dataset_features: np.ndarray, quantile: float = COPY_QUANTILE, seed: int = 0) -> float:
    """The distance under which a sample counts as a copy of a training image.

    The `quantile` of training images' distances to their nearest other training image (on up to
    COPY_REFERENCE of them): a sample nearer to a training image than almost any training image is to
    another one was not generalised, it was remembered. Exact duplicates in the data (distance 0) are
    skipped so they do not set the bar to 0.
    """
    f = np.asarray(dataset_features, dtype=np.float64)
    if len(f) < 2:
        return 0.0
    pick = np.random.default_rng(seed).permutation(len(f))[:COPY_REFERENCE]
    _, d = _knn(f[pick], f[pick], 1, exclude_self=True)
    d = d[:, 0][d[:, 0] > 0]
    return float(np.quantile(d, quantile)) if len(d) else 0.0


def copies(distances: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) bool: the samples whose nearest training image is within `threshold` (see copy_distance)."""
    d = np.asarray(distances, dtype=np.float64)
    return (d[:, 0] if d.ndim == 2 else d) <= threshold
