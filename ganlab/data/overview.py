"""What the Data page shows of a dataset: its facts, a sample in display form and the label counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import h5py
import numpy as np
import torch

from ..errors import DataError
from . import hdf5_path, is_hdf5, load_dataset
from .base import DataSpec, to_unit
from .hdf5 import StreamingHDF5Dataset


@dataclass(frozen=True)
class DatasetOverview:
    """What the Data page shows of one dataset: facts, a sample and the label counts."""

    name: str
    spec: DataSpec
    size: int  # number of samples
    samples: np.ndarray  # display form: images (n, C, H, W) in [0, 1], points (n, D)
    sample_labels: Optional[np.ndarray]  # (n,) or None
    label_counts: Optional[np.ndarray]  # (num_classes,) over the whole dataset, or None
    meta: dict[str, Any] = field(default_factory=dict)


def dataset_overview(name: str, *, root=None, n: int = 64, seed: int = 0) -> DatasetOverview:
    """Load a dataset on the CPU and summarise it; a missing file raises DataError (what to put where)."""

    if is_hdf5(name):
        return _hdf5_overview(name, root, n, seed)
    ds = load_dataset(name, "cpu", seed=seed, root=root)
    x, y = ds.take(n, seed=seed)
    counts = None
    y_all = getattr(ds, "y", None)
    if y_all is not None and ds.spec.num_classes:
        counts = np.bincount(y_all.cpu().numpy(), minlength=ds.spec.num_classes)
    return DatasetOverview(name, ds.spec, len(ds), _display(x, ds.spec),
                           None if y is None else y.cpu().numpy(), counts, _plain_meta(ds.meta))


def _hdf5_overview(name: str, root, n: int, seed: int) -> DatasetOverview:
    """A packed file read in part: n images by chunk and the labels, never the whole file."""
    path = hdf5_path(name, root)
    with StreamingHDF5Dataset(path, "cpu") as ds:
        x, y = ds.take(n, seed=seed)
        spec, size, meta = ds.spec, len(ds), dict(ds.meta)
    counts = None
    if spec.num_classes:
        try:
            with h5py.File(path, "r") as f:
                counts = np.bincount(np.asarray(f["labels"][()], dtype=np.int64), minlength=spec.num_classes)
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{path}: the labels cannot be read ({e})") from None
    meta = {k: v for k, v in meta.items() if k not in ("storage", "reads", "chunk_rows")}
    return DatasetOverview(name, spec, size, _display(x, spec), None if y is None else y.numpy(),
                           counts, _plain_meta(meta))


def _display(x: torch.Tensor, spec: DataSpec) -> np.ndarray:
    return to_unit(x, spec).astype(np.float32)


def _plain_meta(meta: dict) -> dict:
    """Meta values a page can print (arrays become lists, tensors numpy)."""
    out = {}
    for k, v in meta.items():
        if isinstance(v, torch.Tensor):
            v = v.cpu().numpy()
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out
