"""Report scalars anywhere in a step; they stay on the device until one sync per tick."""

from __future__ import annotations

import math

import torch


class Stats:
    """Running means of named scalars, accumulated as device tensors (no host sync per step)."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def report(self, name: str, value: torch.Tensor) -> None:
        v = value.detach().float()
        if name in self._sums:
            self._sums[name] = self._sums[name] + v
            self._counts[name] += 1
        else:
            self._sums[name], self._counts[name] = v, 1

    def collect(self) -> dict[str, float]:
        """Means since the last collect; this is the tick's single CPU-GPU sync point."""
        if not self._sums:
            return {}
        names = list(self._sums)
        values = torch.stack([self._sums[n] for n in names]).tolist()  # note: the sync
        out = {n: v / self._counts[n] for n, v in zip(names, values)}
        self._sums.clear()
        self._counts.clear()
        return out


def non_finite(record: dict[str, float]) -> list[str]:
    """Names of values in a tick record that are NaN or infinite."""
    return [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
