"""Progress as text: steps per second, time left and how much is done, read off the tick records.

Polled every second by the status line, so it reads only the end of the history, never all of it.
"""

from __future__ import annotations

import numpy as np

from .series import History, to_float


def speed_text(history: History, total_steps: int, *, window: int = 20) -> tuple[float, float | None, float]:
    """(steps per second, seconds left or None when unknown, fraction done in [0, 1]).

    Uses the last record's `Speed/steps_per_s`, else the step rate over the last `window` ticks.
    """
    recs = []  # the last window + 1 records that carry a step, oldest first
    for r in reversed(history):  # from the end: O(window), not O(run length), per tick
        if np.isfinite(to_float(r.get("step"))):
            recs.insert(0, r)
            if len(recs) > window:
                break
    if not recs:
        return 0.0, None, 0.0
    last, first = recs[-1], recs[0]
    step = to_float(last["step"])
    sps = to_float(last.get("Speed/steps_per_s"))
    if not (np.isfinite(sps) and sps > 0):
        dt = to_float(last.get("time")) - to_float(first.get("time"))
        ds = step - to_float(first["step"])
        if not (dt > 0 and ds > 0):  # NaN-safe: a single tick measures from step 0, time 0
            dt, ds = to_float(last.get("time")), step
        sps = ds / dt if dt > 0 and ds > 0 else 0.0
    fraction = min(max(step / total_steps, 0.0), 1.0) if total_steps > 0 else 0.0
    left = max(total_steps - step, 0.0)
    eta = 0.0 if left == 0 else (left / sps if sps > 0 else None)
    return float(sps), eta, fraction


def format_duration(seconds: float | None) -> str:
    """'2 h 05 min', '3 min 07 s', '42 s'; '—' when unknown."""
    if seconds is None or not np.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
