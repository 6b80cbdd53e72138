"""The run's classifier as a feature space for exploring: the one the classifier metrics use, cached per dataset.

Projection measures "looks like" in it, nearest neighbours search in it, the class boundary reads its labels.
It is the same cache file the metrics train (same key and data fingerprint), so a run that was evaluated
never trains it again; in memory it is kept per (dataset, data root).
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import torch

from ..data import DataSpec, load_dataset
from ..evaluation.classifier import ClassifierBundle, load_or_train_classifier
from ..paths import cache_dir, data_root

CLASSIFIER_IMAGES = 10_000  # the images the classifier metrics train on (evaluate._classifier_metrics)
MAX_TRAINING_IMAGES = 60_000  # nearest neighbours search at most this many training images
_CACHE: dict[tuple[str, str], Optional[ClassifierBundle]] = {}
_LOCK = threading.Lock()


def has_classifier(spec: DataSpec) -> bool:
    return spec.kind == "images" and spec.num_classes >= 2 and min(spec.shape[1:]) >= 8


def run_classifier(dataset: str, spec: DataSpec, root=None) -> Optional[ClassifierBundle]:
    """The dataset's classifier (frozen, eval mode), or None for points and unlabelled images."""
    if not has_classifier(spec):
        return None
    key = (dataset, str(data_root(root)))
    with _LOCK:
        if key not in _CACHE:
            ds = load_dataset(dataset, "cpu", seed=0, root=root)
            real, real_y = ds.take(min(len(ds), CLASSIFIER_IMAGES), seed=0)
            bundle = load_or_train_classifier(cache_dir(root), dataset, real.cpu(), real_y.cpu(), spec.num_classes)
            bundle.model.requires_grad_(False)  # a feature loss sends gradients to z only
            _CACHE[key] = bundle
        return _CACHE[key]


def to_model_range(x: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Display form ([0, 1] images) -> the range G and the classifier work in (spec.value_range)."""
    if spec.kind != "images":
        return x
    lo, hi = spec.value_range
    return x * (hi - lo) + lo


def feature_fn(bundle: Optional[ClassifierBundle]):
    """Differentiable features of images in G's range, (N, F) torch; None without a classifier."""
    if bundle is None:
        return None
    model = bundle.model

    def features(x: torch.Tensor) -> torch.Tensor:
        return model.embed(x.to(bundle.device, torch.float32))[0]

    return features


def numpy_features(bundle: Optional[ClassifierBundle], spec: DataSpec):
    """(display-form samples -> (N, F) numpy) in the classifier's features; None: raw coordinates or pixels."""
    if bundle is None:
        return None

    def features(x) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return bundle.features(to_model_range(t, spec))

    return features


def training_images(dataset: str, root=None) -> np.ndarray:
    """The dataset's samples in display form ([0, 1] images, raw points), the first MAX_TRAINING_IMAGES in order."""
    ds = load_dataset(dataset, "cpu", seed=0, root=root)
    x = ds.x[:MAX_TRAINING_IMAGES] if hasattr(ds, "x") else ds.take(MAX_TRAINING_IMAGES, seed=0)[0]
    x = ds.to_float(x) if hasattr(ds, "to_float") else x
    spec = ds.spec
    if spec.kind == "images":
        lo, hi = spec.value_range
        return ((x.float() - lo) / (hi - lo)).clamp(0, 1).cpu().numpy()
    return x.float().cpu().numpy()
