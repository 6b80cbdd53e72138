"""A small CNN that ganlab trains on a dataset's own images, for class coverage and feature FD.

Never downloaded: trained here in seconds (digits) to a minute (MNIST on a CPU), cached per
dataset as a plain state_dict with its architecture arguments, loaded with weights_only=True.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..models import RNG_LOCK

CLASSIFIER_VERSION = 1  # bump when the architecture or training changes: old caches are retrained
log = logging.getLogger(__name__)


class SmallCNN(nn.Module):
    """conv-pool-conv-pool-conv, then a `feature_dim` ReLU layer (the FD features) and a linear head."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        c, h, w = in_shape
        if h < 8 or w < 8 or num_classes < 2:
            raise ValueError(f"the classifier needs images of at least 8x8 and >= 2 classes, got {in_shape}, {num_classes}")
        ph, pw = min(h // 4, 4), min(w // 4, 4)
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, H/2, W/2)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, H/4, W/4)
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d((ph, pw)), nn.Flatten(),  # (B, 2w * ph * pw)
        )
        self.feat = nn.Sequential(nn.Linear(2 * width * ph * pw, feature_dim), nn.ReLU())  # (B, F)
        self.head = nn.Linear(feature_dim, num_classes)  # (B, K) logits

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.feat(self.body(x))
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)[1]


@dataclass
class ClassifierBundle:
    """A trained classifier with what a metric needs to trust it: its held-out accuracy."""

    model: SmallCNN
    arch: dict  # SmallCNN's constructor arguments: in_shape, num_classes, width, feature_dim
    accuracy: float  # accuracy on the held-out split after training (digits: ~0.97)
    device: torch.device
    cached: bool = False  # True when loaded from the cache rather than trained in this call

    @property
    def num_classes(self) -> int:
        return int(self.arch["num_classes"])

    @torch.inference_mode()
    def outputs(self, images: Any, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(features (N, F), softmax probabilities (N, K)) as float64 numpy, in eval mode, batched."""
        x = _as_images(images, tuple(self.arch["in_shape"]))
        self.model.eval()
        feats, probs = [], []
        for i in range(0, len(x), batch_size):
            f, logits = self.model.embed(x[i:i + batch_size].to(self.device, torch.float32))
            feats.append(f.double().cpu())
            probs.append(logits.double().softmax(dim=1).cpu())
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()

    def features(self, images: Any) -> np.ndarray:
        """Penultimate-layer features (N, F): the space the Fréchet distance is measured in."""
        return self.outputs(images)[0]

    def predict(self, images: Any) -> np.ndarray:
        """Predicted class per image, (N,) int64."""
        return self.outputs(images)[1].argmax(axis=1)


def _as_images(images: Any, in_shape: tuple) -> torch.Tensor:
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    if x.dtype == torch.uint8:
        raise ValueError("pass float images in [-1, 1] (TensorDataset.to_float), not uint8")
    if x.ndim != 4 or tuple(x.shape[1:]) != in_shape:
        raise ValueError(f"images must be (N, {', '.join(map(str, in_shape))}), got {tuple(x.shape)}")
    return x


def _default_epochs(steps_per_epoch: int) -> int:
    """About 1,200 optimiser steps, between 2 and 15 epochs (digits: 15 epochs; MNIST: 2)."""
    return min(15, max(2, math.ceil(1200 / steps_per_epoch)))


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, seed: int = 0,
                     epochs: Optional[int] = None, batch_size: int = 64, lr: float = 1e-3,
                     holdout: float = 0.15, device: Union[str, torch.device] = "cpu") -> ClassifierBundle:
    """Train SmallCNN on (N, C, H, W) float images in [-1, 1] and (N,) labels; report held-out accuracy.

    A random `holdout` fraction (seeded) is kept out of training and measures the accuracy
    that image_metrics reports, so a reader knows how far to trust the class histogram.
    The global torch RNG is left untouched (init happens under fork_rng). Gradients are on whatever the
    caller's mode: a metric asked for under torch.no_grad (a truncation sweep) trains it on first use.
    """
    with torch.enable_grad():
        return _train_classifier(images, labels, num_classes, seed=seed, epochs=epochs, batch_size=batch_size,
                                 lr=lr, holdout=holdout, device=device)


def _train_classifier(images, labels, num_classes, *, seed, epochs, batch_size, lr, holdout, device) -> ClassifierBundle:
    device = torch.device(device)
    x = _as_images(images, tuple(images.shape[1:])).to(device, torch.float32)
    y = torch.as_tensor(labels).long().to(device)
    if len(x) != len(y) or len(x) < 10:
        raise ValueError(f"need >= 10 images with one label each, got {len(x)} images and {len(y)} labels")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=gen).to(device)
    n_val = max(1, int(round(len(x) * holdout)))
    val, tr = perm[:n_val], perm[n_val:]
    arch = {"in_shape": list(x.shape[1:]), "num_classes": int(num_classes), "width": 32, "feature_dim": 128}
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN(tuple(arch["in_shape"]), num_classes, arch["width"], arch["feature_dim"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(tr) / batch_size)
    model.train()
    for _ in range(epochs or _default_epochs(steps_per_epoch)):
        order = tr[torch.randperm(len(tr), generator=gen).to(device)]
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    bundle = ClassifierBundle(model.eval(), arch, 0.0, device)
    pred = torch.from_numpy(bundle.predict(x[val])).to(device)
    bundle.accuracy = float((pred == y[val]).double().mean())  # one host sync, after training
    return bundle


# ---------------------------------------------------------------- cache


def cache_path(cache_dir: Union[str, Path], key: str) -> Path:
    """`cache_dir/classifier-<key>.pt`; a key with characters unsafe in a file name is
    sanitised and suffixed with a short hash, so "hdf5:/a/b.h5" cannot escape the folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)
    if safe != key or not safe.strip("."):
        safe = f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    return Path(cache_dir) / f"classifier-{safe}.pt"


def data_fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    """A cheap identity of the training data (shape, all labels, ~256 strided images)."""
    h = hashlib.sha256(repr(tuple(images.shape)).encode())
    h.update(torch.as_tensor(labels).long().cpu().numpy().tobytes())
    step = max(1, len(images) // 256)
    h.update(torch.as_tensor(images[::step]).float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def load_or_train_classifier(cache_dir: Union[str, Path], key: str, images: torch.Tensor, labels: torch.Tensor,
                             num_classes: int, device: Union[str, torch.device] = "cpu", *, seed: int = 0,
                             epochs: Optional[int] = None) -> ClassifierBundle:
    """The cached classifier for this dataset, or a fresh one trained and cached atomically.

    The cache is retrained when the file is missing, unreadable or corrupt, from another
    CLASSIFIER_VERSION, for another image shape or class count, or trained on other data
    (fingerprint). Loading uses torch.load(weights_only=True) only: never an unsafe load.
    """
    path = cache_path(cache_dir, key)
    fp = data_fingerprint(images, labels)
    want = {"in_shape": list(images.shape[1:]), "num_classes": int(num_classes)}
    bundle = _load(path, want, fp, torch.device(device))
    if bundle is not None:
        return bundle
    bundle = train_classifier(images, labels, num_classes, seed=seed, epochs=epochs, device=device)
    _save(path, bundle, key, fp)
    return bundle


def _load(path: Path, want: dict, fingerprint: str, device: torch.device) -> Optional[ClassifierBundle]:
    if not path.exists():
        return None
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        arch = ck["arch"]
        if ck.get("version") != CLASSIFIER_VERSION or ck.get("fingerprint") != fingerprint or \
                {k: arch[k] for k in want} != want:
            log.info("classifier cache %s is stale; retraining", path)
            return None
        model = SmallCNN(tuple(arch["in_shape"]), arch["num_classes"], arch["width"], arch["feature_dim"])
        model.load_state_dict(ck["state_dict"])
    except Exception as e:  # corrupt, truncated or foreign file: retrain rather than fail the metric
        log.warning("classifier cache %s is unreadable (%s); retraining", path, e)
        return None
    return ClassifierBundle(model.to(device).eval(), dict(arch), float(ck["accuracy"]), device, cached=True)


def _save(path: Path, bundle: ClassifierBundle, key: str, fingerprint: str) -> None:
    """Write to a temp file in the same folder, then os.replace: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ck = {
        "version": CLASSIFIER_VERSION,
        "ganlab_version": __version__,
        "key": key,
        "fingerprint": fingerprint,
        "arch": bundle.arch,
        "accuracy": bundle.accuracy,
        "state_dict": {k: v.detach().cpu() for k, v in bundle.model.state_dict().items()},
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(ck, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
