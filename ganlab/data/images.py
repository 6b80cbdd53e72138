"""Image datasets: scikit-learn's bundled digits (offline) and torchvision's, read from the data root
(which files each needs, and their download: ganlab.data.download)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import torch

from . import download as files
from .base import DataError, DataSpec, TensorDataset

DIGIT_NAMES = tuple(str(i) for i in range(10))
DIGITS_SPEC = DataSpec(kind="images", shape=(1, 8, 8), num_classes=10, class_names=DIGIT_NAMES)
MNIST_SPEC = DataSpec(kind="images", shape=(1, 28, 28), num_classes=10, class_names=DIGIT_NAMES)
FASHION_SPEC = DataSpec(kind="images", shape=(1, 28, 28), num_classes=10, class_names=(
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"))
CIFAR10_SPEC = DataSpec(kind="images", shape=(3, 32, 32), num_classes=10, class_names=(
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"))


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 8, 8) uint8 and (N,) int64 from scikit-learn's bundled copy (no download)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    return x, d.target.astype(np.int64)


def digits(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    x, y = digits_arrays()
    return TensorDataset("digits", DIGITS_SPEC, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))


def _torchvision_dataset(name: str, root, download: bool):
    """torchvision's train split of `name` from the data root (fetched first when `download`); missing or damaged
    files are a DataError that says which files to put where."""
    import torchvision

    if download:
        files.download(name, root)
    problem = files.files_problem(name, root)
    if problem:
        raise DataError(problem)
    cls = getattr(torchvision.datasets, files.SOURCES.get(name).torchvision_class)
    try:
        files.prepare(name, root)
        return cls(str(root), train=True, download=False)
    except (RuntimeError, OSError, EOFError, tarfile.TarError) as e:
        raise DataError(f"{name}: the files in {files.status(name, root).folder} are damaged ({str(e).splitlines()[0]}); "
                        f"delete them and {files.by_hand(name, root)} again, or download it again") from None


def _mnist_like(name: str, spec: DataSpec, device, root, download: bool) -> TensorDataset:
    ds = _torchvision_dataset(name, Path(root), download)
    x = ds.data.numpy()[:, None].astype(np.uint8)  # (N, 1, 28, 28)
    y = ds.targets.numpy().astype(np.int64)
    return TensorDataset(name, spec, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))


def mnist(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    return _mnist_like("mnist", MNIST_SPEC, device, root, download)


def fashion_mnist(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    return _mnist_like("fashion-mnist", FASHION_SPEC, device, root, download)


def cifar10(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    ds = _torchvision_dataset("cifar10", Path(root), download)
    x = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    y = np.asarray(ds.targets, dtype=np.int64)
    return TensorDataset("cifar10", CIFAR10_SPEC, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
