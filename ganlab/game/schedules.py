"""Schedules: a factor of a base value for each step of a run (both learning rates: lr_schedule; R1's weight:
r1_schedule).

Pure functions of (step, steps, end): a resumed run gets the same factor at the same step, and
a learning rate changed live from the Monitor page changes the base the factor multiplies.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..registry import Registry

# (step done so far, total steps, end factor) -> factor in [end, 1]
Schedule = Callable[[int, int, float], float]
SCHEDULES: Registry[Schedule] = Registry("schedule")


def _progress(step: int, steps: int) -> float:
    return min(max(step / max(steps, 1), 0.0), 1.0)


SCHEDULES.add("constant", lambda step, steps, end: 1.0, "The same learning rates from the first step to the last")
SCHEDULES.add("linear", lambda step, steps, end: 1.0 - (1.0 - end) * _progress(step, steps),
              "Decay linearly to the end factor (lr_end_factor, r1_end_factor) × the base at the last step")
SCHEDULES.add("cosine", lambda step, steps, end: end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * _progress(step, steps))),
              "Half a cosine down to the end factor × the base: slow at first and at the end. On the lrs it "
              "sharpens G's samples once the modes are found")


def lr_factor(schedule: str, step: int, steps: int, end: float) -> float:
    """The factor for the update that follows `step` completed steps."""
    return SCHEDULES.get(schedule)(step, steps, end)
