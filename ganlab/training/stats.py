"""Report scalars anywhere in a step; they stay on the device until one sync per tick."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import torch

NEVER = 2 ** 62  # "no non-finite value yet": larger than any step


class Stats:
    """Running means of occasional named scalars (gradient norms, penalties), accumulated as device
    tensors: no host sync per step. What every iteration reports goes to a StepLog instead."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def report(self, name: str, value: torch.Tensor) -> None:
        v = value.detach()
        v = v if v.dtype == torch.float32 else v.float()
        if name in self._sums:
            self._sums[name] = self._sums[name] + v
            self._counts[name] += 1
        else:
            self._sums[name], self._counts[name] = v, 1

    def collect(self, reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> dict[str, float]:
        """Means since the last collect (one host sync, only when something was reported).

        reduce: applied to the stacked sums before the sync (a data-parallel run averages them over its ranks).
        """
        if not self._sums:
            return {}
        keys = list(self._sums)
        sums = torch.stack([self._sums[k].reshape(()) for k in keys])
        values = (sums if reduce is None else reduce(sums)).tolist()  # the sync
        out = {k: v / self._counts[k] for k, v in zip(keys, values)}
        self._sums.clear()
        self._counts.clear()
        return out

    def state_dict(self) -> dict:
        """The running sums of a tick not yet collected: a checkpoint between ticks carries them (exact resume)."""
        return {"sums": {k: v.detach().cpu().clone() for k, v in self._sums.items()}, "counts": dict(self._counts)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self._sums = {k: v.to(device) for k, v in state["sums"].items()}
        self._counts = {k: int(c) for k, c in state["counts"].items()}


def non_finite(record: dict[str, float]) -> list[str]:
    """Names of values in a tick record that are NaN or infinite."""
    return [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]


class StepLog:
    """The scalars every iteration produces (D's loss, D(x), D(G(z)), G's loss), one device row per step.

    One write per step replaces a running sum per name plus a per-step NaN check: the tick's
    collect() averages the rows and finds the first step whose row is not finite, so a
    divergence message still names the exact step. Rows fold into a running sum when the
    buffer fills (a caller that never collects), still without a host sync.
    """

    def __init__(self, names: tuple[str, ...], device: torch.device, capacity: int = 256):
        self.names, self.capacity = names, capacity
        self._rows = torch.zeros((capacity, len(names)), device=device)
        self._row_list = list(self._rows.unbind(0))  # views, made once: no select per step
        self._sum = torch.zeros(len(names), device=device)
        self._first_bad = torch.full((len(names),), NEVER, dtype=torch.long, device=device)  # per column
        self._steps = torch.arange(1, capacity + 1, device=device)  # row i of a window starting at step s -> s + i
        self._n, self._folded, self._start = 0, 0, None  # rows in the buffer, rows folded, first step of the window

    def row(self, step: int) -> torch.Tensor:
        """The (len(names),) row for `step` to be written in place (e.g. `torch.cat(parts, out=row)`)."""
        if self._start is None:
            self._start = step
        if self._n == self.capacity:
            self._fold()
        r = self._row_list[self._n]
        self._n += 1
        return r

    def _fold(self) -> None:
        rows = self._rows[: self._n]
        self._sum += rows.sum(0)
        steps = (self._steps[: self._n] + (self._start + self._folded - 1)).unsqueeze(1)  # (n, 1)
        bad = torch.where(torch.isfinite(rows), NEVER, steps).amin(0)  # (names,): first non-finite step
        torch.minimum(self._first_bad, bad, out=self._first_bad)
        self._folded += self._n
        self._n = 0

    def collect(self, reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> tuple[dict[str, float], dict[str, int]]:
        """(means since the last collect, {name: first step where it was not finite}); one host sync.

        reduce: applied to the column sums in place before the sync (a data-parallel run averages them over its ranks;
        a NaN on any rank then reaches every rank's means).
        """
        if self._n:
            self._fold()
        count = self._folded
        if not count:
            return {}, {}
        if reduce is not None:
            reduce(self._sum)
        # float64 holds every step number (and NEVER, a power of two) exactly
        values = torch.cat([self._sum.double(), self._first_bad.double()]).tolist()  # the sync
        k = len(self.names)
        out = {n: v / count for n, v in zip(self.names, values[:k])}
        first_bad = {n: int(b) for n, b in zip(self.names, values[k:]) if b < NEVER}
        self._sum.zero_()
        self._first_bad.fill_(NEVER)
        self._folded, self._start = 0, None
        return out, first_bad

    def state_dict(self) -> dict:
        """The tick in progress as it stands, rows unfolded: folding them early would change the sum's float order."""
        return {"rows": self._rows[: self._n].cpu().clone(), "sum": self._sum.cpu().clone(),
                "first_bad": self._first_bad.cpu().clone(), "folded": self._folded, "start": self._start}

    def load_state_dict(self, state: dict) -> None:
        rows = state["rows"]
        if len(rows) > self.capacity:
            raise ValueError(f"a partial tick of {len(rows)} rows does not fit a log of {self.capacity}")
        self._rows[: len(rows)].copy_(rows)
        self._n = len(rows)
        self._sum.copy_(state["sum"])
        self._first_bad.copy_(state["first_bad"])
        self._folded, self._start = int(state["folded"]), state["start"]
