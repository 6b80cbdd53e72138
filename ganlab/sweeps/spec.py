"""What a sweep is: a base config, the fields it varies, the seeds, and how trials are chosen.

A sweep is a pure function of its spec: `SweepSpec.trials()` expands it the same way every time
(grid x random samples x seeds, random draws from a seed of their own), and each trial's key is a
hash of the whole config it trains. So running the same command again finds the same sweep and
the same trials, and only the ones not done yet are run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import FIELDS, RunConfig, coerce, field_type
from ..config.schema import echo, field_hint, split_assignment
from ..config.validate import CHOICES, RANGES, REGISTERED
from ..data import DATASETS
from ..errors import ConfigError

SCHEDULERS = ("", "asha")
MODES = ("max", "min")
RANGE_SCALES = ("linear", "log", "int")
MAX_TRIALS = 10_000  # a grid that expands past this is a typo (or a very big cluster): refused before anything runs
KEY_CHARS = 12
ASHA_EVALS = 8  # with a scheduler and no eval_every: evaluations per trial
# spec fields that do not change which trials a sweep has, so they do not change its id
NOT_IN_ID = ("max_concurrent", "data_root")
# fields a grid does not vary, and why (the CLI's --grid and the Sweeps page's value boxes alike)
NOT_VARIED = {
    "seed": "list the seeds on their own, e.g. 0,1,2 or 0-4; every combination runs once per seed",
    "preset": "a preset is the base every trial starts from, not a value to vary",
}
TUPLE_SEPARATOR = ";"  # between the values of a width-list field such as g_hidden ("64,64;128,128")
REGISTRIES = {**REGISTERED, "dataset": DATASETS}  # text fields whose values are a registry's names
OPEN_FIELDS = ("dataset",)  # takes more than its registry's names (hdf5:FILE, points:FILE, ring:N)
TYPE_EXAMPLES = {bool: "true, false", int: "1, 2", float: "1e-4, 1e-3", str: "a, b"}
SEED_PART = re.compile(r"([0-9]+)(?:\s*-\s*([0-9]+))?")  # 3, or a range 0-4


@dataclass(frozen=True)
class TrialSpec:
    """One trial: its key (a hash of config), the values the sweep set, its seed, and the config it trains."""

    key: str
    params: dict[str, Any]
    seed: int
    config: RunConfig


@dataclass(frozen=True)
class SweepSpec:
    base: dict[str, Any]  # RunConfig fields, as `train` builds them from --dataset/--preset/--config/--set
    grid: dict[str, list] = field(default_factory=dict)  # field -> values; every combination is tried
    seeds: list[int] = field(default_factory=list)  # each combination once per seed ([] = the base's seed)
    samples: int = 0  # random search: this many draws from `ranges`, each crossed with the grid and seeds
    ranges: dict[str, tuple] = field(default_factory=dict)  # field -> (low, high[, "linear" | "log" | "int"])
    scheduler: str = ""  # "" (run every trial to the end) or "asha" (Ray Tune's ASHAScheduler on `metric`)
    metric: str = ""  # the quality metric trials are compared (and ASHA stops them) on, e.g. high_quality_rate
    mode: str = "max"  # max | min: which way `metric` is better
    sample_seed: int = 0  # the random search's own seed: the same spec draws the same trials
    max_concurrent: int = 0  # 0: as many trials at once as the cluster has CPUs for (one CPU per trial)
    data_root: str = ""  # where the trials' datasets are ("" = $GANLAB_DATA or the default)

    # ------------------------------------------------------------ checks and expansion
    def __post_init__(self) -> None:
        object.__setattr__(self, "base", scored(RunConfig.from_dict(dict(self.base)), bool(self.scheduler)).to_dict())
        object.__setattr__(self, "grid", {k: [coerce(k, v) for v in vs] for k, vs in self.grid.items()})
        object.__setattr__(self, "ranges", {k: _range(k, r) for k, r in self.ranges.items()})
        object.__setattr__(self, "seeds", [int(s) for s in self.seeds])
        self._check()

    def _check(self) -> None:
        for name, values in self.grid.items():
            if name == "seed":
                raise ConfigError("seed cannot be a --grid field: give the seeds with --seeds 0,1,2")
            if not values:
                raise ConfigError(f"--grid {name}= has no values; give at least one, e.g. --grid {name}=V1,V2")
        both = sorted(set(self.grid) & set(self.ranges))
        if both:
            raise ConfigError(f"{', '.join(both)} is both a --grid and a --range field; vary it one way")
        if self.ranges and self.samples <= 0:
            raise ConfigError("--range needs --samples N (how many random draws to make)")
        if self.samples < 0:
            raise ConfigError(f"--samples must be 0 or more, got {self.samples}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"--scheduler must be asha (or left out), got {echo(self.scheduler)}")
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be max or min, got {echo(self.mode)}")
        if self.scheduler and not self.metric:
            raise ConfigError("--scheduler asha needs --metric NAME (the quality metric it stops trials on) and "
                              "--mode max|min")
        if self.max_concurrent < 0:
            raise ConfigError(f"--max-concurrent must be 1 or more, got {self.max_concurrent}")
        n = self.size()
        if n > MAX_TRIALS:
            raise ConfigError(f"this sweep has {n:,} trials (at most {MAX_TRIALS:,}); vary fewer fields or values")

    def size(self) -> int:
        return math.prod(len(v) for v in self.grid.values()) * max(1, self.samples) * len(self.seed_list())

    def seed_list(self) -> list[int]:
        return list(self.seeds) or [int(self.base["seed"])]

    def draws(self) -> list[dict[str, Any]]:
        """The random search's points, [{}] without one; drawn in field order from sample_seed alone."""
        if not self.samples:
            return [{}]
        rng = random.Random(f"ganlab-sweep:{self.sample_seed}")
        return [{name: _draw(rng, name, r) for name, r in sorted(self.ranges.items())} for _ in range(self.samples)]

    def trials(self) -> list[TrialSpec]:
        """Every trial, in a fixed order: random draw, then grid combination (last field fastest), then seed."""
        names = list(self.grid)
        out = []
        for draw in self.draws():
            for combo in itertools.product(*(self.grid[n] for n in names)):
                params = {**draw, **dict(zip(names, combo))}
                for seed in self.seed_list():
                    cfg = RunConfig.from_dict({**self.base, **params, "seed": seed})
                    out.append(TrialSpec(trial_key(cfg), params, seed, cfg))
        return out

    # ------------------------------------------------------------ identity and JSON
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        d["grid"] = {k: [list(x) if isinstance(x, tuple) else x for x in v] for k, v in self.grid.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        if not isinstance(d, dict) or not isinstance(d.get("base"), dict):
            raise ConfigError("a sweep spec is a JSON object with at least a base config object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown sweep spec field(s) {', '.join(map(echo, unknown))}; known: {', '.join(sorted(names))}")
        try:
            return cls(**{**d, "ranges": {k: tuple(v) for k, v in (d.get("ranges") or {}).items()}})
        except TypeError as e:
            raise ConfigError(f"a sweep spec field has the wrong type ({e})") from None

    def sweep_id(self) -> str:
        """The same spec, the same id: `<dataset>-<hash>` (the dataset only to make the list readable)."""
        d = {k: v for k, v in self.to_dict().items() if k not in NOT_IN_ID}
        digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]
        name = re.sub(r"[^A-Za-z0-9]+", "-", str(self.base.get("preset") or self.base["dataset"])).strip("-")[:24]
        return f"{name or 'sweep'}-{digest}"

    def summary(self) -> str:
        """One line for `ganlab sweeps`: what varies, over how many seeds."""
        parts = [f"{self.base.get('preset') or self.base['dataset']}"]
        parts += [f"{k}={','.join(map(_shown, v))}" for k, v in self.grid.items()]
        if self.samples:
            parts.append(f"{self.samples} draws of {','.join(self.ranges)}")
        parts.append(f"seeds {','.join(map(str, self.seed_list()))}")
        if self.scheduler:
            parts.append(f"{self.scheduler} on {self.metric} ({self.mode})")
        return " ".join(parts)


def scored(cfg: RunConfig, scheduled: bool) -> RunConfig:
    """A sweep compares trials, so every trial is scored: without eval_every, once at its end, or ASHA_EVALS
    times with a scheduler (the rungs it compares at). A set eval_every is kept."""
    if cfg.eval_every:
        return cfg
    return cfg.replace(eval_every=max(1, cfg.steps // ASHA_EVALS) if scheduled else cfg.steps)


def trial_key(cfg: RunConfig) -> str:
    """A stable hash of everything a trial trains with."""
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:KEY_CHARS]


def _shown(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def _range(name: str, r: Any) -> tuple:
    """(low, high, scale) checked against the field: numeric, low < high, log only above 0."""
    if name not in FIELDS:
        raise ConfigError(f"--range: unknown config field {echo(name)}; {field_hint(name)}")
    t = field_type(name)
    if t not in (int, float) or t is bool:
        raise ConfigError(f"--range {name}: {name} is not a number field; vary it with --grid {name}=V1,V2")
    r = tuple(r)
    if len(r) not in (2, 3):
        raise ConfigError(f"--range {name} takes LOW:HIGH[:log|:int], got {echo(':'.join(map(str, r)))}")
    scale = str(r[2]) if len(r) == 3 else ("int" if t is int else "linear")
    if scale not in RANGE_SCALES:
        raise ConfigError(f"--range {name}: the scale must be log or int, got {echo(scale)}")
    try:
        lo, hi = float(r[0]), float(r[1])
    except (TypeError, ValueError):
        raise ConfigError(f"--range {name}: LOW and HIGH must be numbers, got {echo(r[0])} and {echo(r[1])}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ConfigError(f"--range {name}: LOW must be below HIGH, got {lo:g}:{hi:g}")
    if scale == "log" and lo <= 0:
        raise ConfigError(f"--range {name}: a log range needs LOW above 0, got {lo:g}")
    if t is int and scale == "linear":
        scale = "int"
    for v in (lo, hi):  # the ends must be values the field takes, so a draw never fails later
        coerce(name, int(v) if t is int else v)
    return (lo, hi, scale)


def _draw(rng: random.Random, name: str, r: tuple) -> Any:
    lo, hi, scale = r
    if scale == "log":
        v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return int(round(v)) if field_type(name) is int else float(f"{v:.6g}")
    if scale == "int" or field_type(name) is int:
        return rng.randint(int(math.ceil(lo)), int(math.floor(hi)))
    return float(f"{rng.uniform(lo, hi):.6g}")


# ------------------------------------------------------------ typed values (the CLI's flags, the page's boxes)
def field_choices(name: str) -> Sequence[str]:
    """The values a text field takes, from its registry or the config's CHOICES; () for a free one."""
    return REGISTRIES[name].names() if name in REGISTRIES else CHOICES.get(name, ())


def value_example(name: str) -> str:
    """Two values of the field, as typed: its first choices, or ones of its type."""
    if field_choices(name):
        return ", ".join(field_choices(name)[:2])
    return TYPE_EXAMPLES.get(field_type(name), "64,64; 128,128")


def parse_values(name: str, text: str, label: str = "--grid") -> list:
    """A field's values as typed ("bce,hinge"; "1e-4,1e-3"; "64,64;128,128" for a width list), each coerced
    by the field's type and, for a text field with a registry or choices, one of them; each value once.

    `label` is what the errors name before the field: the flag ("--grid loss: ...") on the command line,
    "" for the field alone ("loss: ...", the Sweeps page's value boxes).
    """
    where = f"{label} {name}" if label else name
    if name not in FIELDS:
        raise ConfigError(f"{label + ': ' if label else ''}unknown config field {echo(name)}; {field_hint(name)}")
    if name in NOT_VARIED:
        raise ConfigError(f"{where} cannot be varied: {NOT_VARIED[name]}")
    tuple_field = field_type(name) == tuple[int, ...]
    parts = [p.strip() for p in text.split(TUPLE_SEPARATOR if tuple_field else ",")]
    parts = [p for p in parts if p]
    if not parts:
        sep = "semicolons, e.g. 64,64; 128,128" if tuple_field else "commas, e.g. " + value_example(name)
        raise ConfigError(f"{where} has no values; type at least one value, separated by {sep}")
    values = [coerce(name, p) for p in parts]
    allowed = field_choices(name) if name not in OPEN_FIELDS else ()
    for v in values:
        if allowed and v not in allowed:
            raise ConfigError(f"{where}: {echo(v)} is not one of {', '.join(allowed)}")
    seen: set = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{where}: {echo(v)} is listed twice; list each value once")
        seen.add(v)
    return values


def parse_seeds(text: str | None, label: str = "--seeds") -> list[int]:
    """Seeds as typed, "0,1,2" or a range "0-4" (or both, "0-2,5"), into [0, 1, 2, 5]: whole numbers from 0,
    each once, at most MAX_TRIALS in all. None (the flag not given) is [] (the base config's seed).

    `label` is what the errors name: the flag ("--seeds: ...") or the page's box ("seeds: ...").
    """
    if text is None:
        return []
    top = RANGES["seed"][1]
    seeds: list[int] = []
    seen: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = SEED_PART.fullmatch(part)
        if not m:
            raise ConfigError(f"{label}: {echo(part)} is not a whole number from 0; type seeds as 0,1,2 or 0-4")
        if any(len(d) > len(str(top)) or int(d) > top for d in m.groups() if d):
            raise ConfigError(f"{label}: {echo(part)} is too large; a seed is at most {top}")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise ConfigError(f"{label}: the range {part} runs backwards; write {hi}-{lo}")
        if len(seeds) + hi - lo + 1 > MAX_TRIALS:
            raise ConfigError(f"{label}: {echo(text)} is too many seeds (at most {MAX_TRIALS:,})")
        for s in range(lo, hi + 1):
            if s in seen:
                raise ConfigError(f"{label}: seed {s} is listed twice; list each seed once")
            seen.add(s)
            seeds.append(s)
    if not seeds:
        raise ConfigError(f"{label}: type at least one seed, e.g. 0 or 0,1,2")
    return seeds


# ------------------------------------------------------------ command-line forms
def parse_grid(items: list[str]) -> dict[str, list]:
    """`--grid FIELD=V1,V2,...` (repeatable) into {field: [values]}, parsed by parse_values (each coerced by the
    field's type, a choice field's values among its choices, each once). A list field (g_hidden) separates its
    values with `;`: --grid g_hidden=64,64;128,128."""
    out: dict[str, list] = {}
    for item in items:
        name, text = split_assignment(item, "--grid expects FIELD=V1,V2,...")
        if name in out:
            raise ConfigError(f"--grid {name} is given twice; list all its values once: --grid {name}=V1,V2")
        out[name] = parse_values(name, text, "--grid")
    return out


def parse_range(items: list[str]) -> dict[str, tuple]:
    """`--range FIELD=LO:HI[:log|:int]` (repeatable) into {field: (lo, hi, scale)}."""
    out: dict[str, tuple] = {}
    for item in items:
        name, text = split_assignment(item, "--range expects FIELD=LOW:HIGH[:log|:int]")
        out[name] = _range(name, tuple(p.strip() for p in text.split(":")))
    return out
