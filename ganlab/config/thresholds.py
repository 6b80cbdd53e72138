"""Named quality thresholds per metric family: "good enough" as a test on one metrics row.

Why they exist: a run's final figures say how good it ended, not when it got there. Time to a good
result (bench.quality's reached-at columns, the Monitor's marks, `stop_at` early stopping and the Train
page's expected time) needs one shared answer to "is this row good?", and that answer must be the same
words everywhere. Each threshold reads one metrics row (the scalars the family writes, with or without
the tick record's `Metric/` prefix) and never the dataset's name, so a ring of 5 and a ring of 80 are
judged by the same rule.

- mixture (Gaussian mixtures with known centres): "modes" = every mode covered; "hq90"/"hq95"/"hq97" =
  every mode and at least that high-quality rate (a perfect sampler scores 98.9% in 2-D).
- classifier (labelled images): "classes" = every class made; "fd2x"/"fd1.5x" = every class and the
  Fréchet distance within 2x / 1.5x of the real-vs-real floor (fd_real_split).
- points (any point data): "sw2x"/"sw1.5x" = sliced Wasserstein within 2x / 1.5x of its floor (the
  same distance between training and held-out points).

"good" names each family's headline threshold (HEADLINE).

They live with the config because `stop_at` (a RunConfig field) names one, and validate() checks the name;
the rules are pure functions of a row, so the pieces layer can hold them. ganlab.evaluation.thresholds is
the same module under the name the results layer's callers use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional

GOOD = "good"  # stop_at's alias for the family's headline threshold


@dataclass(frozen=True)
class Threshold:
    name: str
    label: str  # what a person reads: "every mode, 95% high quality"
    met: Callable[[dict[str, Any]], bool]
    says: Callable[[dict[str, Any]], str]  # the row's own figures in the threshold's words: "8/8 modes, 96.1% HQ"


def _get(row: dict[str, Any], key: str) -> Optional[float]:
    """A finite number from a row that holds `key` or `Metric/key`; None when absent or not a number."""
    v = row.get(key, row.get(f"Metric/{key}"))
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


# ---------------------------------------------------------------- mixtures
def _every_mode(row: dict[str, Any]) -> bool:
    covered, total = _get(row, "modes_covered"), _get(row, "modes_total")
    return covered is not None and total is not None and total > 0 and covered >= total


def _modes_text(row: dict[str, Any]) -> str:
    return f"{_get(row, 'modes_covered') or 0:.0f}/{_get(row, 'modes_total') or 0:.0f} modes"


def _hq(rate: float) -> Threshold:
    def met(row: dict[str, Any]) -> bool:
        hq = _get(row, "high_quality_rate")
        return _every_mode(row) and hq is not None and hq >= rate

    return Threshold(f"hq{round(rate * 100)}", f"every mode, {rate:.0%} high quality", met,
                     lambda row: f"{_modes_text(row)} at {100 * (_get(row, 'high_quality_rate') or 0):.1f}% high quality")


MIXTURE = (Threshold("modes", "every mode covered", _every_mode, _modes_text), _hq(0.90), _hq(0.95), _hq(0.97))


# ---------------------------------------------------------------- images (classifier features)
def _every_class(row: dict[str, Any]) -> bool:
    covered, total = _get(row, "class_coverage"), _get(row, "classes_total")
    return covered is not None and total is not None and total > 0 and covered >= total


def _classes_text(row: dict[str, Any]) -> str:
    return f"{_get(row, 'class_coverage') or 0:.0f}/{_get(row, 'classes_total') or 0:.0f} classes"


def _within(row: dict[str, Any], key: str, floor_key: str, times: float) -> bool:
    value, floor = _get(row, key), _get(row, floor_key)
    return value is not None and floor is not None and value <= times * max(floor, 1e-12)


def _ratio_text(row: dict[str, Any], key: str, floor_key: str, short: str) -> str:
    value, floor = _get(row, key), _get(row, floor_key)
    if value is None or floor is None:
        return f"{short} not measured"
    return f"{short} {value:.3g} = {value / max(floor, 1e-12):.2f}x its real floor"


def _fd(times: float) -> Threshold:
    return Threshold(f"fd{times:g}x", f"every class, FD within {times:g}x of the real floor",
                     lambda row: _every_class(row) and _within(row, "fd", "fd_real_split", times),
                     lambda row: f"{_classes_text(row)}, {_ratio_text(row, 'fd', 'fd_real_split', 'FD')}")


CLASSIFIER = (Threshold("classes", "every class made", _every_class, _classes_text), _fd(2.0), _fd(1.5))


# ---------------------------------------------------------------- any point data
def _sw(times: float) -> Threshold:
    return Threshold(f"sw{times:g}x", f"sliced Wasserstein within {times:g}x of the real floor",
                     lambda row: _within(row, "sliced_wasserstein", "sliced_wasserstein_floor", times),
                     lambda row: _ratio_text(row, "sliced_wasserstein", "sliced_wasserstein_floor", "sliced Wasserstein"))


POINTS = (_sw(2.0), _sw(1.5))

# metric family (ganlab.evaluation.evaluate.METRIC_FAMILIES) -> its thresholds, loosest first
THRESHOLDS: dict[str, tuple[Threshold, ...]] = {"mixture": MIXTURE, "classifier": CLASSIFIER, "points": POINTS}
HEADLINE = {"mixture": "hq95", "classifier": "fd2x", "points": "sw2x"}


def thresholds_for(family: str) -> tuple[Threshold, ...]:
    return THRESHOLDS.get(family, ())


def resolve(family: str, name: str) -> Optional[Threshold]:
    """The threshold `name` ("good" = the family's headline) of a family; None when it has no such one."""
    if name == GOOD:
        name = HEADLINE.get(family, "")
    return next((t for t in thresholds_for(family) if t.name == name), None)


def names_for(family: str) -> list[str]:
    """What stop_at accepts for a family (empty: the family has no thresholds)."""
    names = [t.name for t in thresholds_for(family)]
    return [GOOD, *names] if family in HEADLINE and names else names


def met_names(row: dict[str, Any], family: Optional[str] = None) -> list[str]:
    """The thresholds a row meets, of one family or of every family whose metrics the row holds."""
    families = [family] if family else list(THRESHOLDS)
    return [t.name for f in families for t in thresholds_for(f) if t.met(row)]


def reached_at(rows: Iterable[dict[str, Any]], family: Optional[str] = None) -> dict[str, tuple[int, float]]:
    """{threshold name: (step, seconds)} at the first row that met it, from the metric rows eval_every writes
    (stats.jsonl tick records with Metric/ keys, or metrics.jsonl rows); seconds is the row's `time`
    (training seconds since the run's start; nan when the row has none). Rows are read in step order."""
    out: dict[str, tuple[int, float]] = {}
    for row in sorted((r for r in rows if isinstance(r.get("step"), int)), key=lambda r: r["step"]):
        for name in met_names(row, family):
            if name not in out:
                t = _get(row, "time")
                out[name] = (int(row["step"]), float("nan") if t is None else t)
    return out


class EarlyStop:
    """The loop's stop_on for a config's stop_at: on an eval tick's record, the sentence that ends the run when the
    threshold is met ("stopped early: 8/8 modes at 96.1% high quality (hq95) at step 1,800"), else None."""

    def __init__(self, family: str, name: str):
        threshold = resolve(family, name)
        if threshold is None:
            raise ValueError(f"{name!r} is no threshold of the {family!r} metrics")  # validate() refuses it first
        self.threshold, self.reason = threshold, None

    def __call__(self, row: dict[str, Any]) -> Optional[str]:
        if not self.threshold.met(row):
            return None
        step = row.get("step")
        at = f" at step {step:,}" if isinstance(step, int) else ""
        self.reason = f"stopped early: {self.threshold.says(row)} ({self.threshold.name}: {self.threshold.label}){at}"
        return self.reason
