"""Datasets: a registry of named loaders, `hdf5:<path>` files packed by `ganlab pack`, `points:<file>`
point sets of a person's own (.csv or .npy, drawn or uploaded on the Data page; see `points`), and parametric
point families such as `ring:12` or `grid:3x4` (see `families`).

Each entry carries its own facts: its spec, whether it needs files, which metric family scores
it (`ganlab.evaluation.evaluate.METRIC_FAMILIES`), and a target pattern where its samples have one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from ..paths import data_root
from ..registry import Registry
from . import images, mixtures
from .base import DataError, Dataset, DataSpec, TensorDataset, to_storage, to_unit
from .families import FAMILIES, families_help, parse_family
from .points import POINTS_PREFIX, is_points, load_points, points_path, read_points_spec

HDF5_PREFIX = "hdf5:"


@dataclass(frozen=True)
class DatasetEntry:
    spec: DataSpec  # known without loading
    load: Callable[..., Dataset]  # (device, seed=, root=, download=) -> Dataset
    offline: bool = True  # False: needs files under the data root
    metrics: str = ""  # the metric family that scores it (ganlab.evaluation.evaluate.METRIC_FAMILIES); "" = none
    target: Optional[tuple[float, ...]] = None  # the one sample every sample should be (the 1010 pattern)


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def _pts(fn):
    return lambda device, seed=0, root=None, download=False: fn(device, seed)


DATASETS.add("gaussian2d", DatasetEntry(mixtures.GAUSSIAN2D_SPEC, _pts(mixtures.gaussian2d), metrics="gaussian"),
             "d2l's 2-D Gaussian: N(0, I) through x·A + b; one linear G can match it exactly")
DATASETS.add("ring8", DatasetEntry(mixtures.RING8_SPEC, _pts(mixtures.ring8), metrics="mixture"),
             "8 Gaussians on a circle of radius 2, std 0.02: the classic mode-collapse test")
DATASETS.add("grid25", DatasetEntry(mixtures.GRID25_SPEC, _pts(mixtures.grid25), metrics="mixture"),
             "25 Gaussians on a 5x5 grid at {-4,-2,0,2,4}², std 0.05: a harder mode-collapse test")
DATASETS.add("pattern1010", DatasetEntry(mixtures.PATTERN1010_SPEC, _pts(mixtures.pattern1010), metrics="pattern",
                                          target=(1.0, 0.0, 1.0, 0.0)),
             "Make Your Own GAN's first GAN: four numbers in the pattern high-low-high-low")
DATASETS.add("digits", DatasetEntry(images.DIGITS_SPEC, images.digits, metrics="classifier"),
             "scikit-learn's bundled 8x8 handwritten digits, 1,797 images with labels (offline)")
DATASETS.add("mnist", DatasetEntry(images.MNIST_SPEC, images.mnist, offline=False, metrics="classifier"),
             "MNIST 28x28 digits, 60,000 with labels (files under the data root)")
DATASETS.add("fashion-mnist", DatasetEntry(images.FASHION_SPEC, images.fashion_mnist, offline=False,
                                            metrics="classifier"),
             "Fashion-MNIST 28x28 clothing, 60,000 with labels (files under the data root)")
DATASETS.add("cifar10", DatasetEntry(images.CIFAR10_SPEC, images.cifar10, offline=False, metrics="classifier"),
             "CIFAR-10 32x32 colour photos, 50,000 in 10 classes (files under the data root)")


def is_hdf5(name: str) -> bool:
    return name.startswith(HDF5_PREFIX)


def dataset_spec(name: str, root=None) -> DataSpec:
    """The spec without loading the data (an HDF5 file's is read from its attributes)."""
    if is_hdf5(name):
        from .hdf5 import read_spec

        return read_spec(hdf5_path(name, root))
    if is_points(name):
        return read_points_spec(points_path(name, root))
    family = parse_family(name) if name not in DATASETS else None
    if family is not None:
        return family.spec
    if name not in DATASETS:
        raise _unknown(name)
    return DATASETS.get(name).spec


def _unknown(name: str) -> DataError:
    return DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS.names())}, a point family "
                     f"({families_help()}), hdf5:<file>, or {POINTS_PREFIX}<file.csv or .npy>")


def metric_family(name: str, spec: DataSpec) -> str:
    """The metric family of a dataset: its entry's, the classifier metrics for a labelled packed file, and the
    distribution metrics ("points") for any point data that names no family of its own."""
    if is_hdf5(name):
        return "classifier" if spec.kind == "images" and spec.num_classes >= 2 else ""
    if name in DATASETS:
        own = DATASETS.get(name).metrics
    else:
        family = parse_family(name)
        own = family.metrics if family is not None else ""
    return own or ("points" if spec.kind == "points" else "")


def target_of(name: str) -> Optional[tuple[float, ...]]:
    """The pattern every sample of this dataset should match, or None."""
    return DATASETS.get(name).target if name in DATASETS else None


def hdf5_path(name: str, root=None):
    from pathlib import Path

    p = Path(name[len(HDF5_PREFIX):]).expanduser()
    if not p.is_absolute() and not p.exists():
        p = data_root(root) / p  # relative names resolve under the data root too
    return p


def load_dataset(name: str, device, *, seed: int = 0, root=None, download: bool = False) -> Dataset:
    """Load onto `device`; missing files raise DataError saying exactly what to put where."""
    if is_hdf5(name):
        from .hdf5 import load_hdf5

        return load_hdf5(hdf5_path(name, root), device)
    if is_points(name):
        return load_points(name, device, root=root)
    family = parse_family(name) if name not in DATASETS else None
    if family is not None:
        return family.load(name, device, seed=seed)
    if name not in DATASETS:
        raise _unknown(name)
    return DATASETS.get(name).load(device, seed=seed, root=data_root(root), download=download)


__all__ = ["DATASETS", "FAMILIES", "POINTS_PREFIX", "DataError", "DataSpec", "Dataset", "TensorDataset", "dataset_spec",
           "hdf5_path", "is_hdf5", "is_points", "load_dataset", "metric_family", "parse_family", "points_path", "target_of",
           "to_storage", "to_unit"]
