"""Image datasets: scikit-learn's bundled digits (offline) and torchvision's, read from a local root."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import torch

from .base import DataError, DataSpec, TensorDataset

DIGIT_NAMES = tuple(str(i) for i in range(10))
DIGITS_SPEC = DataSpec(kind="images", shape=(1, 8, 8), num_classes=10, class_names=DIGIT_NAMES)
MNIST_SPEC = DataSpec(kind="images", shape=(1, 28, 28), num_classes=10, class_names=DIGIT_NAMES)
FASHION_SPEC = DataSpec(kind="images", shape=(1, 28, 28), num_classes=10, class_names=(
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"))
CIFAR10_SPEC = DataSpec(kind="images", shape=(3, 32, 32), num_classes=10, class_names=(
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"))

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 8, 8) uint8 and (N,) int64 from scikit-learn's bundled copy (no download)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    return x, d.target.astype(np.int64)


def digits(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    x, y = digits_arrays()
    return TensorDataset("digits", DIGITS_SPEC, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))


def _gunzip_if_needed(folder: Path, names: tuple[str, ...]) -> None:
    """Accept the files as distributed (.gz) as well as unpacked."""
    for n in names:
        if not (folder / n).exists() and (folder / f"{n}.gz").exists():
            with gzip.open(folder / f"{n}.gz", "rb") as src, open(folder / f"{n}.tmp", "wb") as dst:
                shutil.copyfileobj(src, dst)
            (folder / f"{n}.tmp").replace(folder / n)


def _mnist_like(cls_name: str, name: str, spec: DataSpec, device, root, download: bool) -> TensorDataset:
    import torchvision

    root = Path(root)
    raw = root / cls_name / "raw"
    if raw.is_dir():
        _gunzip_if_needed(raw, _MNIST_FILES)
    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(str(root), train=True, download=download)
    except RuntimeError as e:
        if download:
            raise DataError(f"{name}: download failed ({str(e).splitlines()[0]}); put the files in {raw} by hand") from None
        missing = [n for n in _MNIST_FILES if not (raw / n).exists()]
        raise DataError(f"{name} is not in {raw}: put {', '.join(missing)} there (.gz files are fine), "
                        f"or allow a download") from None
    x = ds.data.numpy()[:, None].astype(np.uint8)  # (N, 1, 28, 28)
    y = ds.targets.numpy().astype(np.int64)
    return TensorDataset(name, spec, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))


def mnist(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    return _mnist_like("MNIST", "mnist", MNIST_SPEC, device, root, download)


def fashion_mnist(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    return _mnist_like("FashionMNIST", "fashion-mnist", FASHION_SPEC, device, root, download)


def cifar10(device, seed: int = 0, root=None, download: bool = False) -> TensorDataset:
    import torchvision

    root = Path(root)
    folder = root / "cifar-10-batches-py"
    try:
        ds = torchvision.datasets.CIFAR10(str(root), train=True, download=download)
    except RuntimeError as e:
        if download:
            raise DataError(f"cifar10: download failed ({str(e).splitlines()[0]}); put the files in {folder} by hand") from None
        raise DataError(f"cifar10 is not in {folder}: put {', '.join(_CIFAR_FILES)} there "
                        f"(unpack cifar-10-python.tar.gz into {root}), or allow a download") from None
    x = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    y = np.asarray(ds.targets, dtype=np.int64)
    return TensorDataset("cifar10", CIFAR10_SPEC, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
