"""status.json's fields and their types: what every reader of a run's state may rely on.

A status file is written by ganlab alone, but a run directory is only a folder: a person, a
sync tool or a crash can leave anything in it. The reader checks every documented field, so a
page or `ganlab runs` can format `step` as a number and `error` as text without checking again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

STATES = ("created", "running", "paused", "finished", "stopped", "failed", "interrupted")
LIVE_STATES = ("created", "running", "paused")
MAX_STEP = 2 ** 62  # far beyond any run; keeps a crafted 10**400 out of every sum and format


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_STEP


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# field -> (is this value one, what it should be); state and step are required, the rest optional
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "state": (lambda v: v in STATES, f"one of {', '.join(STATES)}"),
    "step": (_whole, "a whole number of steps"),
    "time": (_number, "a finite number of seconds"),
    "owner": (lambda v: isinstance(v, str), "a host:pid:start text"),
    "error": (lambda v: v is None or isinstance(v, str), "a sentence or null"),
    "traceback": (lambda v: isinstance(v, str), "text"),
    "diverged": (lambda v: isinstance(v, bool), "true or false"),
    "network": (lambda v: isinstance(v, str), "G or D"),
    "stopped_early": (lambda v: isinstance(v, str), "a sentence (the stop_at threshold a finished run met)"),
}
REQUIRED = ("state", "step")


def status_problem(obj: dict[str, Any]) -> str | None:
    """Why a decoded status.json does not have the documented fields and types, or None."""
    for name in REQUIRED:
        if name not in obj:
            return f"it has no {name}"
    for name, (ok, want) in FIELDS.items():
        if name in obj and not ok(obj[name]):
            return f"its {name} is {_short(obj[name])}, not {want}"
    return None


def typed_status(obj: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of a checked status (others are not read back), time as a float."""
    out = {k: obj[k] for k in FIELDS if k in obj}
    if "time" in out:
        out["time"] = float(out["time"])
    return out


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, (dict, list)) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."
