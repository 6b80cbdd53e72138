"""Trained digits runs shared by the latent-tool tests (directions, projection, CLI), built once per test process.

Why a helper and not fixtures: three test files need the same runs and the same classifier, and training
them (and the classifier) per file would triple the cost. The runs train on digits minus a held-out split
(packed as an HDF5 dataset), so projection can be tested on real images G never saw.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ganlab.config import RunConfig
from ganlab.data import load_dataset
from ganlab.data.images import digits_arrays
from ganlab.data.pack import pack_arrays
from ganlab.evaluation.classifier import load_or_train_classifier
from ganlab.explore.features import CLASSIFIER_IMAGES
from ganlab.paths import cache_dir
from ganlab.store import Run
from ganlab.training import train

HELD_OUT = 200  # digits kept out of training (the last of a fixed shuffle)
BASE = dict(arch="mlp", loss="bce", steps=300, batch_size=64, log_every=100, snapshot_every=300, checkpoint_every=300,
            latent_dim=16, g_hidden=(128,), d_hidden=(128,), num_fixed=16, device="cpu", eval_every=0)


@functools.cache
def root() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ganlab-latent-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def data_root() -> Path:
    return root() / "data"


@functools.cache
def digits_split() -> tuple[str, np.ndarray, np.ndarray]:
    """(the training dataset's name "hdf5:...", held-out images (HELD_OUT, 1, 8, 8) in [0, 1], their labels)."""
    x, y = digits_arrays()
    order = np.random.default_rng(0).permutation(len(x))
    train_idx, held = order[:-HELD_OUT], order[-HELD_OUT:]
    path = data_root() / "digits-train.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    pack_arrays(x[train_idx], y[train_idx], [str(i) for i in range(10)], path, source="test:digits")
    name = f"hdf5:{path}"
    _quick_classifier(name)
    return name, x[held].astype(np.float32) / 255.0, y[held]


def _quick_classifier(name: str) -> None:
    """The classifier the metrics and the explorer will load from the cache, trained in 3 epochs instead of 15."""
    ds = load_dataset(name, "cpu", seed=0, root=data_root())
    real, real_y = ds.take(min(len(ds), CLASSIFIER_IMAGES), seed=0)
    load_or_train_classifier(cache_dir(data_root()), name, real, real_y, 10, epochs=3)


@functools.cache
def digits_run(conditional: bool = False) -> Path:
    """A 300-step MLP run on the training split (unconditional or conditional)."""
    name, _, _ = digits_split()
    cfg = RunConfig(dataset=name, conditional=conditional, **BASE)
    run = Run.create(root() / "runs", cfg)
    assert train(cfg, run) == "finished"  # the dataset name is an absolute path
    return run.path


@functools.cache
def ring_run() -> Path:
    """A small ring8 run: points, no labels."""
    cfg = RunConfig(dataset="ring8", **{**BASE, "steps": 100, "latent_dim": 4, "g_hidden": (32,), "d_hidden": (32,),
                                         "checkpoint_every": 100, "snapshot_every": 100})
    run = Run.create(root() / "runs", cfg)
    assert train(cfg, run) == "finished"
    return run.path
