"""What every dataset looks like to the trainer: a spec, and random batches on the device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np
import torch

from ..errors import DataError


@dataclass(frozen=True)
class DataSpec:
    """Static facts about a dataset, known without loading it (validate() uses them)."""

    kind: str  # "points" | "images"
    shape: tuple[int, ...]  # (D,) for points; (C, H, W) for images
    num_classes: int = 0  # 0 when the dataset has no labels
    class_names: tuple[str, ...] = ()
    value_range: tuple[float, float] = (-1.0, 1.0)  # range G must produce (images: [-1, 1])
    unbounded: bool = False  # points on R^D: G gets no output squashing

    @property
    def dim(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as a checkpoint stores the spec (so G can be rebuilt from the file alone)."""
        return {"kind": self.kind, "shape": list(self.shape), "num_classes": self.num_classes,
                "class_names": list(self.class_names), "value_range": list(self.value_range),
                "unbounded": self.unbounded}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(kind=d["kind"], shape=tuple(d["shape"]), num_classes=d["num_classes"],
                   class_names=tuple(d["class_names"]), value_range=tuple(d["value_range"]), unbounded=d["unbounded"])


def to_storage(x: torch.Tensor, spec: DataSpec) -> np.ndarray:
    """Images -> uint8 in [0, 255] (as samples.h5 stores them); points stay float32."""
    if spec.kind == "images":
        lo, hi = spec.value_range
        return ((x - lo) / (hi - lo)).clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return x.cpu().numpy().astype(np.float32)


def to_unit(x: torch.Tensor, spec: DataSpec) -> np.ndarray:
    """Images -> float32 in [0, 1] (for display and `ganlab sample`); points unchanged."""
    if spec.kind == "images":
        lo, hi = spec.value_range
        return ((x.float() - lo) / (hi - lo)).clamp(0, 1).cpu().numpy()
    return x.float().cpu().numpy()


class Dataset(Protocol):
    """Anything with a spec and `batch(n, gen) -> (x, y)`; x float on the training device.

    A dataset whose batches depend on more than `gen`'s state (a stream read ahead on a thread)
    also has `state_dict()` and `load_state_dict(state)`, which a checkpoint saves and restores so
    a resumed run draws the same batches; see `data_state`.
    """

    name: str
    spec: DataSpec
    meta: dict

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, Optional[torch.Tensor]]: ...

    def __len__(self) -> int: ...


def data_state(ds: Dataset) -> Optional[dict[str, Any]]:
    """What a checkpoint must hold of the dataset besides the generator: None for in-memory data."""
    save = getattr(ds, "state_dict", None)
    return save() if save is not None else None


def load_data_state(ds: Dataset, state: Optional[dict[str, Any]]) -> None:
    """Restore `data_state`; call it after the generator's state (a dataset without state ignores it)."""
    restore = getattr(ds, "load_state_dict", None)
    if restore is not None:
        restore(state)


@dataclass
class TensorDataset:
    """A whole dataset as one tensor on the device; batches are random index draws.

    Images are kept as uint8 (4x less memory than float) and scaled per batch, which
    costs one fused elementwise op on the device.
    """

    name: str
    spec: DataSpec
    x: torch.Tensor  # (N, *shape): uint8 images (N, C, H, W) or float32 points (N, D)
    y: Optional[torch.Tensor] = None  # (N,) int64 labels, or None
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. mixture centres and std

    def __post_init__(self) -> None:
        if tuple(self.x.shape[1:]) != tuple(self.spec.shape):
            raise DataError(f"{self.name}: samples have shape {tuple(self.x.shape[1:])}, expected {self.spec.shape}")
        if len(self.x) == 0:
            raise DataError(f"{self.name}: the dataset is empty")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            lo, hi = self.spec.value_range
            return x.float().mul_((hi - lo) / 255.0).add_(lo)
        return x

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        # random indices drawn on the data's own device: no host round trip per step
        idx = torch.randint(len(self.x), (n,), device=self.x.device, generator=gen)
        y = self.y.index_select(0, idx) if self.y is not None else None
        return self.to_float(self.x.index_select(0, idx)), y  # index_select: a third of x[idx]'s dispatch cost

    def take(self, n: int, seed: int = 0) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """A reproducible subset (for metrics and previews), without touching training RNG."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        idx = torch.randperm(len(self.x), generator=g)[: min(n, len(self.x))].to(self.x.device)
        y = self.y[idx] if self.y is not None else None
        return self.to_float(self.x[idx]), y
