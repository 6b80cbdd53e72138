"""Report scalars anywhere in a step; they stay on the device until one sync per tick."""

from __future__ import annotations

import math

import torch


class Stats:
    """Running means of named scalars, accumulated as device tensors (no host sync per step)."""

    def __init__(self) -> None:
        self._sums: dict[str | tuple[str, ...], torch.Tensor] = {}
        self._counts: dict[str | tuple[str, ...], int] = {}

    def report(self, name: str | tuple[str, ...], value: torch.Tensor) -> None:
        """One scalar; or several at once: a tuple of names and a (len(names),) tensor (one add, not many)."""
        v = value.detach()
        v = v if v.dtype == torch.float32 else v.float()
        if isinstance(name, tuple):
            assert v.shape == (len(name),), f"{len(name)} names need a ({len(name)},) tensor, got {tuple(v.shape)}"
        if name in self._sums:
            self._sums[name] = self._sums[name] + v
            self._counts[name] += 1
        else:
            self._sums[name], self._counts[name] = v, 1

    def collect(self) -> dict[str, float]:
        """Means since the last collect; this is the tick's single CPU-GPU sync point."""
        if not self._sums:
            return {}
        keys = list(self._sums)
        values = torch.cat([self._sums[k].reshape(-1) for k in keys]).tolist()  # note: the sync
        names = [n for k in keys for n in (k if isinstance(k, tuple) else (k,))]
        counts = [self._counts[k] for k in keys for _ in (k if isinstance(k, tuple) else (k,))]
        out = {n: v / c for n, v, c in zip(names, values, counts)}
        self._sums.clear()
        self._counts.clear()
        return out


def non_finite(record: dict[str, float]) -> list[str]:
    """Names of values in a tick record that are NaN or infinite."""
    return [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
