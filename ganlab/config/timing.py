"""How long a config takes to a good result and to its last step on this kind of machine, from measurements.

Why from a file: a person choosing steps wants "about 40 s to every mode at 95% HQ, 3 min to the end",
and only a real run can say that. `python -m bench.quality --record` trains each recipe over seeds and
thread counts and writes expected_times.json beside this module; expected_time() looks a config up there
(by the recipe or preset it started from and the kind of dataset) and answers None for anything not
measured, rather than guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .schema import RunConfig

EXPECTED_TIMES = Path(__file__).with_name("expected_times.json")


@dataclass(frozen=True)
class Expected:
    """Training seconds (evaluation excluded) measured for a recipe on one dataset at one thread count."""

    threshold: str  # the headline threshold's name ("hq95"); "" when the family has none
    threshold_label: str  # what it means: "every mode, 95% high quality"
    seconds_to_threshold: Optional[float]  # mean over the seeds; None when a seed never reached it in cfg.steps
    worst_seconds_to_threshold: Optional[float]
    seconds_to_end: float  # to cfg.steps (scaled from the measured steps)
    measured_on: str  # the dataset of the measurement (a ring of 5 answers for a ring of 12)
    threads: int
    seeds: int
    date: str
    cpu: str

    def summary(self) -> str:
        """One sentence for the Train page: 'about 40 s to every mode, 95% high quality (hq95), 2.5 min to the
        last step; measured on ring:5 (2 seeds, 1 thread, Intel Xeon, 2026-12-01)'."""
        parts = []
        if self.threshold:
            what = f"{self.threshold_label} ({self.threshold})" if self.threshold_label else self.threshold
            if self.seconds_to_threshold is not None:
                worst = (f", at most {duration(self.worst_seconds_to_threshold)}"
                         if self.worst_seconds_to_threshold is not None and self.seeds > 1 else "")
                parts.append(f"about {duration(self.seconds_to_threshold)} to {what}{worst}")
            else:
                parts.append(f"{what} was not reached by every measured seed within these steps")
        parts.append(f"about {duration(self.seconds_to_end)} to the last step")
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return (f"{', '.join(parts)}; measured on {self.measured_on} ({self.seeds} seed{'s' if self.seeds != 1 else ''}, "
                f"{threads}, {self.cpu or 'unknown CPU'}, {self.date or 'undated'})")


def duration(seconds: float) -> str:
    """12 s, 3.5 min, 1.2 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def dataset_kind(name: str) -> str:
    """ring8, ring:5 and ring:12,radius=3 are all rings: a family's name, a built-in's name without its count."""
    head = name.split(":", 1)[0]
    return re.sub(r"\d+$", "", head) if ":" not in name and head not in ("points", "hdf5") else head


def load_entries(path: Path = EXPECTED_TIMES) -> list[dict[str, Any]]:
    """The measured entries; [] when the file is missing or not what --record writes."""
    try:
        entries = json.loads(path.read_text()).get("measured", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("seconds_to_end"), (int, float))]


def _name(cfg: RunConfig) -> str:
    return getattr(cfg, "recipe", "") or cfg.preset


def expected_time(cfg: RunConfig, threads: Optional[int] = None, path: Path = EXPECTED_TIMES) -> Optional[Expected]:
    """The measurement for cfg's recipe (or preset) on its dataset, else on a dataset of the same kind; the nearest
    thread count to `threads` (the caller's: 1 for the dashboard, 2 for the CLI on a 2-core box). None when nothing
    measured matches the recipe, its loss and the kind of dataset. seconds_to_end scales with cfg.steps; the time to
    the threshold is None when the slowest measured seed reached it after cfg.steps."""
    name = _name(cfg)
    if not name:
        return None
    rows = [e for e in load_entries(path) if e.get("recipe") == name and e.get("loss", cfg.loss) == cfg.loss]
    exact = [e for e in rows if e.get("dataset") == cfg.dataset]
    rows = exact or [e for e in rows if dataset_kind(str(e.get("dataset", ""))) == dataset_kind(cfg.dataset)]
    if not rows:
        return None
    e = min(rows, key=lambda e: (abs(int(e.get("threads", 1)) - (threads or 1)), -int(e.get("seeds", 0))))
    measured_steps = max(int(e.get("steps") or cfg.steps), 1)
    reach = e.get("seconds_to_threshold")
    worst_step = e.get("worst_step_to_threshold")
    in_time = reach is not None and (worst_step is None or worst_step <= cfg.steps)
    # a step costs about the same on another ring or grid, but how soon quality comes depends on the data (a 7x7 grid
    # is not grid25): a time to the threshold is only said for the dataset it was measured on
    same_data = e.get("dataset") == cfg.dataset
    return Expected(
        threshold=str(e.get("threshold", "")) if same_data else "",
        threshold_label=str(e.get("threshold_label", "")) if same_data else "",
        seconds_to_threshold=float(reach) if in_time and same_data else None,
        worst_seconds_to_threshold=float(e["worst_seconds_to_threshold"]) if in_time and same_data and e.get(
            "worst_seconds_to_threshold") is not None else None,
        seconds_to_end=float(e["seconds_to_end"]) * cfg.steps / measured_steps,
        measured_on=str(e.get("dataset", "")), threads=int(e.get("threads", 1)), seeds=int(e.get("seeds", 0)),
        date=str(e.get("date", "")), cpu=str(e.get("cpu", "")))
