"""Series maths on tick records, pure numpy: one key as numbers, decimation, smoothing.

History records are the per-tick dicts of stats.jsonl (`step`, `time`, `Loss/D`, ...); any key
may be missing or None. Long series are smoothed on every point, then decimated, so a
10^6-step run draws as fast as a short one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

History = Sequence[Mapping[str, object]]


def column(history: History, key: str) -> np.ndarray:
    """One key as floats; missing, None and non-numbers become NaN."""
    raw = [r.get(key) for r in history]
    try:
        return np.array(raw, dtype=float)  # fast path: numbers and None (-> NaN)
    except (TypeError, ValueError):
        return np.array([to_float(v) for v in raw], dtype=float)


def to_float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def is_number(v: object) -> bool:
    """A value a chart can draw: an int or float (not a bool, not None)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def count_values(records: Iterable[Mapping[str, object]]) -> Counter:
    """How many records carry a number for each key: which series have data, and how much."""
    counts: Counter = Counter()
    for r in records:
        counts.update(k for k, v in r.items() if is_number(v))
    return counts


def step_axis(history: History) -> np.ndarray:
    """Each record's step; a record without one is drawn at its index."""
    s = column(history, "step")
    return np.where(np.isfinite(s), s, np.arange(len(s), dtype=float))


def series(history: History, key: str, steps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one key, keeping only records where the value is a finite number."""
    steps = step_axis(history) if steps is None else steps
    values = column(history, key)
    keep = np.isfinite(values)
    return steps[keep], values[keep]


def decimate_indices(values: np.ndarray, max_points: int = 2000) -> np.ndarray:
    """Sorted indices to draw: first, last, and each bucket's min and max (at most max_points)."""
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    v = np.asarray(values, dtype=float)
    n = v.size
    if n <= max_points:
        return np.arange(n)
    bs = -(-n // ((max_points - 2) // 2))  # bucket size
    nb = -(-n // bs)  # buckets; the last may be short (padded with +-inf, never picked)
    lo = np.full(nb * bs, np.inf)
    hi = np.full(nb * bs, -np.inf)
    lo[:n] = np.where(np.isnan(v), np.inf, v)
    hi[:n] = np.where(np.isnan(v), -np.inf, v)
    base = np.arange(nb) * bs
    idx = np.concatenate([[0, n - 1], base + lo.reshape(nb, bs).argmin(1),
                          base + hi.reshape(nb, bs).argmax(1)])
    return np.unique(idx[idx < n])


def decimate(steps, values, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Min/max-preserving decimation: spikes survive, first and last points are kept."""
    steps, values = np.asarray(steps), np.asarray(values, dtype=float)
    idx = decimate_indices(values, max_points)
    return steps[idx], values[idx]


def _ema(x: np.ndarray, w: float) -> np.ndarray:
    """Zero-started EMA y_t = w*y_{t-1} + (1-w)*x_t in ~2*sqrt(n) vector steps, not n scalar ones."""
    n = x.size
    width = max(1, math.isqrt(n))
    rows = -(-n // width)
    m = np.zeros(rows * width)
    m[:n] = x
    m = m.reshape(rows, width)  # (rows, width): each row is a consecutive chunk
    part = np.empty_like(m)  # EMA within each row, as if it started from 0
    acc = np.zeros(rows)
    for j in range(width):
        acc = w * acc + (1 - w) * m[:, j]
        part[:, j] = acc
    carry = np.zeros(rows)  # true EMA value at the end of the previous row
    decay = w ** width
    for k in range(1, rows):
        carry[k] = decay * carry[k - 1] + part[k - 1, -1]
    out = part + carry[:, None] * w ** np.arange(1, width + 1)
    return out.ravel()[:n]


def smooth(values, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA smoothing; weight in [0, 1), 0 returns an unchanged copy.

    Non-finite values are skipped (and returned as they were).
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    v = np.array(values, dtype=float)  # a copy: the input is never touched
    finite = np.isfinite(v)
    if weight == 0.0 or not finite.any():
        return v
    x = v[finite]
    v[finite] = _ema(x, weight) / (1.0 - weight ** np.arange(1, x.size + 1))  # debias
    return v


# ---------------------------------------------------------------- the recipe's live changes

RECIPE_KEYS = ("LR/D", "LR/G", "k")  # what "Change lr / k" (or a resume with lr × 0.5) changes
LR_KEYS = ("LR/D", "LR/G")


@dataclass(frozen=True)
class RecipeChange:
    """The first record at which one or more of the recipe's values differ from the record before."""

    step: float
    changes: tuple[tuple[str, float, float], ...]  # (record key, value before, value from here on)


def recipe_changes(history: History, *, base: Callable[[float], float] | None = None,
                   keys: Sequence[str] = RECIPE_KEYS, rel_tol: float = 1e-6) -> list[RecipeChange]:
    """Where a person changed lr or k, read off the records alone (a run from disk, a resumed run alike).

    `base(step)` is the lr schedule's factor at a record's step: a learning rate is compared after
    dividing by it, so a schedule's own decay is not a change while a live edit under it is. The
    values shown stay the records' (what was in use).
    """
    steps = step_axis(history)
    found: dict[float, list[tuple[str, float, float]]] = {}
    for key in keys:
        values = column(history, key)
        keep = np.isfinite(values)
        x, y = steps[keep], values[keep]
        if y.size < 2:
            continue
        cmp = y
        if base is not None and key in LR_KEYS:
            factor = np.array([base(float(s)) for s in x], dtype=float)
            cmp = np.where(factor > 0, y / np.where(factor > 0, factor, 1.0), y)
        before, after = cmp[:-1], cmp[1:]
        moved = ~np.isclose(after, before, rtol=rel_tol, atol=0.0)
        for i in np.flatnonzero(moved):
            found.setdefault(float(x[i + 1]), []).append((key, float(y[i]), float(y[i + 1])))
    return [RecipeChange(s, tuple(found[s])) for s in sorted(found)]
