"""Progress as text: steps per second, time left and how much is done.

Two sources: the tick records (`speed_text`, for runs read from disk and the first refresh), and
readings of the trainer's live step that the status line takes on each refresh (`add_reading`,
`reading_rate`), so progress moves between log ticks too: a slow DCGAN logging every 50 steps
would otherwise read "step 0 · 0 steps/s" for minutes. Polled by the status line, so it reads only
the end of the history, never all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

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


Reading = tuple[float, int]  # (monotonic seconds, the trainer's step then)
READING_WINDOW_S = 12.0  # the live speed is the mean over this long: steady, yet it follows a change


def add_reading(readings: Sequence[Reading], t: float, step: int, *,
                window_s: float = READING_WINDOW_S) -> tuple[Reading, ...]:
    """The readings of the last window_s seconds with (t, step) added; a step that went back (a resume
    from an older checkpoint) or a clock that did starts them afresh. Never mutates its input."""
    kept = [r for r in readings if t - r[0] <= window_s]
    if kept and (step < kept[-1][1] or t < kept[-1][0]):
        kept = []
    return (*kept, (float(t), int(step)))


def reading_rate(readings: Sequence[Reading]) -> Optional[float]:
    """Steps per second between the oldest and the newest reading; None until two are apart in time."""
    if len(readings) < 2:
        return None
    (t0, s0), (t1, s1) = readings[0], readings[-1]
    return (s1 - s0) / (t1 - t0) if t1 > t0 else None


def eta_seconds(step: float, total_steps: int, sps: Optional[float]) -> Optional[float]:
    left = max(total_steps - step, 0.0)
    if left == 0:
        return 0.0
    return left / sps if sps and sps > 0 else None


def format_rate(sps: Optional[float]) -> str:
    """'1,234 steps/s', '12 steps/s', '0.21 steps/s' (a slow run must not read as 0)."""
    if sps is None or not np.isfinite(sps):
        return "measuring speed…"
    if sps >= 100:
        return f"{sps:,.0f} steps/s"
    return f"{sps:.1f} steps/s" if sps >= 10 else f"{sps:.2g} steps/s"


def status_line(state: str, step: int, total_steps: int, *, sps: Optional[float], active: bool,
                icon: str = "") -> str:
    """The progress bar's text: state, step, speed and time left; a paused run says so instead of
    showing the speed it had (it is not training), and a run that ended shows no ETA."""
    head = f"{icon} **{state}** · step {step:,} / {total_steps:,}".lstrip()
    if state == "paused":
        return f"{head} · speed: paused · ETA: paused"
    if not active:
        return f"{head} · {format_rate(sps) if sps else '—'} · ETA —"
    if step == 0 and not sps:
        return f"{head} · starting (loading the data, building the nets)…"
    return f"{head} · {format_rate(sps)} · ETA {format_duration(eta_seconds(step, total_steps, sps))}"
