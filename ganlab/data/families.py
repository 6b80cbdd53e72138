"""Parametric point families: `ring:N`, `grid:K` / `grid:RxC`, `spiral`, `moons`, `swissroll`, each with parameters.

A family name is the whole dataset: `ring:12,radius=3,std=0.05` needs no file and no registry entry per size,
so a study (or a person) can ask for any ring or grid and be scored on it. Rings and grids are Gaussian
mixtures whose centres and std travel in `meta`, so the mixture metrics (modes, high quality) apply at any
size; the curves (spiral, moons, Swiss roll) have no modes and are scored by the "points" metrics against
held-out draws. Every refusal is one DataError naming the parameter, its bounds and an example.

`ring:8` and `grid:5` are ring8 and grid25 exactly: the same centres, std and sampler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..errors import DataError
from ..registry import Registry
from .base import DataSpec, TensorDataset
from .mixtures import MIXTURE_SIZE, POINTS_2D, ring8_centres, sample_mixture
from .points import PointsDataset

SEPARATOR = ":"
HELD_OUT = 10_000  # a curve's held-out points, drawn apart from the training ones
HELD_OUT_STREAM = 1  # RandomState([seed, 1]): a stream no training seed draws


@dataclass(frozen=True)
class Param:
    """One parameter of a family: its default and the closed range it may take."""

    name: str
    default: float
    low: float
    high: float
    integer: bool = False
    help: str = ""
    above_low: bool = False  # the low bound itself is refused (a std of 0 is no Gaussian)
    label: str = ""  # what the Train page's box says

    def check(self, family: str, value: float, usage: str) -> None:
        low_ok = value > self.low if self.above_low else value >= self.low
        if not (low_ok and value <= self.high) or (self.integer and value != int(value)):
            what = "a whole number" if self.integer else "a number"
            lo = f"above {self.low:g}" if self.above_low else f"from {self.low:g}"
            raise DataError(f"{family}: {self.name} must be {what} {lo} to {self.high:g} ({self.help}), got {value:g} "
                            f"— write {usage}")


@dataclass(frozen=True)
class FamilyDef:
    """A family in the registry: its parameters, how a sample of it is drawn, and which metrics score it."""

    params: tuple[Param, ...]
    usage: str  # the name's form, as the CLI's help and the errors show it
    metrics: str  # "mixture" (centres and std in meta) or "points" (distribution metrics against held-out draws)
    example: str  # a name a person can copy
    centres: Optional[Callable[[dict], np.ndarray]] = None  # mixtures: values -> (K, 2) centres
    std: str = ""  # mixtures: the parameter that is each Gaussian's std
    curve: Optional[Callable[[dict, np.random.RandomState, int], np.ndarray]] = None  # curves: (values, rng, n) -> x
    positional: Optional[Callable[[str], dict]] = None  # the one value given without a name (ring:12, grid:3x4)
    check: Optional[Callable[[str, dict], None]] = None  # bounds between parameters (std below half the spacing)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


FAMILIES: Registry[FamilyDef] = Registry("point family")


@dataclass(frozen=True)
class Family:
    """A parsed family name: which family, every parameter's value (defaults filled in)."""

    kind: str
    values: dict[str, float] = field(default_factory=dict)

    @property
    def entry(self) -> FamilyDef:
        return FAMILIES.get(self.kind)

    @property
    def metrics(self) -> str:
        return self.entry.metrics

    @property
    def spec(self) -> DataSpec:
        return POINTS_2D

    def centres(self) -> Optional[np.ndarray]:
        return self.entry.centres(self.values) if self.entry.centres else None

    def std(self) -> Optional[float]:
        return float(self.values[self.entry.std]) if self.entry.std else None

    def sample(self, n: int, seed) -> np.ndarray:
        """n points as float32 (n, 2) from a seeded RandomState (the same seed, the same points; a seed may be
        a list of ints, as RandomState takes, for a stream apart from every int seed's)."""
        centres = self.centres()
        if centres is not None:
            return sample_mixture(centres, self.std(), n, seed)
        return self.entry.curve(self.values, np.random.RandomState(seed), n).astype(np.float32)

    def load(self, name: str, device, seed: int = 0) -> TensorDataset:
        """The training points; a curve also carries fresh held-out draws that the "points" metrics score G
        against (a mixture is scored against its known centres instead)."""
        x = torch.from_numpy(self.sample(MIXTURE_SIZE, seed)).to(device)
        centres = self.centres()
        meta = {"family": self.kind, **self.values}
        if centres is not None:
            return TensorDataset(name, self.spec, x, None, {**meta, "centres": centres.tolist(), "std": self.std()})
        held = torch.from_numpy(self.sample(HELD_OUT, [seed, HELD_OUT_STREAM])).to(device)
        return PointsDataset(name, self.spec, x, None, {**meta, "n_held_out": HELD_OUT}, held_out=held)


# ---------------------------------------------------------------------------------------------- parsing

def _number(family: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{family}: {key}={text[:30]!r} is not a number — write {FAMILIES.get(family).usage}") from None
    if not math.isfinite(value):
        raise DataError(f"{family}: {key} must be a finite number, got {text[:30]!r}")
    return value


def parse_family(name: str) -> Optional[Family]:
    """The family a dataset name asks for, or None when the name is not a family's (ring8, mnist, points:...).

    A family's name with bad parameters raises DataError: one sentence that names the parameter and its bounds.
    """
    head, _, body = name.strip().partition(SEPARATOR)
    head = head.strip().lower()
    if head not in FAMILIES:
        return None
    entry = FAMILIES.get(head)
    values = entry.defaults()
    given: set[str] = set()
    items = [item.strip() for item in body.split(",")] if body.strip() else []
    for i, item in enumerate(items):
        if not item:
            raise DataError(f"{head}: an empty parameter in {name.strip()[:60]!r} — write parameters as "
                            f"key=value separated by commas, e.g. {entry.example}")
        if "=" not in item:
            if i > 0 or entry.positional is None:
                raise DataError(f"{head}: {item[:30]!r} needs a name (key=value); {head} takes "
                                f"{', '.join(p.name for p in entry.params)} — e.g. {entry.example}")
            found = entry.positional(item)
        else:
            key, _, text = item.partition("=")
            key = key.strip().lower()
            if key not in values:
                raise DataError(f"{head}: unknown parameter {key[:30]!r}; {head} takes "
                                f"{', '.join(p.name for p in entry.params)} — e.g. {entry.example}")
            found = {key: _number(head, key, text.strip())}
        for key in found:
            if key in given:
                raise DataError(f"{head}: {key} is given twice in {name.strip()[:60]!r} — give it once")
        given |= set(found)
        values.update(found)
    for p in entry.params:
        p.check(head, values[p.name], entry.usage)
        if p.integer:
            values[p.name] = int(values[p.name])
    if entry.check:
        entry.check(head, values)
    return Family(head, values)


def is_family(name: str) -> bool:
    """The name is a family's (its parameters may still be wrong: parse_family says)."""
    return name.strip().partition(SEPARATOR)[0].strip().lower() in FAMILIES


def family_name(kind: str, values: dict[str, float]) -> str:
    """The shortest name that parses back to these values: only the parameters off their defaults.

    ring's and grid's first parameter is written positionally (ring:12, grid:3x4), as a person types it.
    """
    entry = FAMILIES.get(kind)
    defaults = entry.defaults()
    parts: list[str] = []
    rest = dict(values)
    if kind == "ring":
        parts.append(f"{int(rest.pop('n'))}")
    elif kind == "grid":
        rows, cols = int(rest.pop("rows")), int(rest.pop("cols"))
        parts.append(f"{rows}" if rows == cols else f"{rows}x{cols}")
    parts += [f"{k}={v:g}" for k, v in rest.items() if k in defaults and float(v) != float(defaults[k])]
    return kind + (SEPARATOR + ",".join(parts) if parts else "")


# ---------------------------------------------------------------------------------------------- ring and grid

RING_RADIUS, RING_STD = 2.0, 0.02  # ring8's
GRID_SPACING, GRID_STD = 2.0, 0.05  # grid25's


def _ring_positional(text: str) -> dict:
    return {"n": _number("ring", "n", text)}


def _ring_check(family: str, v: dict) -> None:
    chord = 2 * v["radius"] * math.sin(math.pi / v["n"])  # between neighbouring centres
    if v["std"] >= chord / 2:
        raise DataError(f"{family}: std must be below half the distance between neighbouring centres "
                        f"({chord / 2:.3g} for {v['n']} modes at radius {v['radius']:g}), got {v['std']:g} — "
                        "lower std, raise radius or use fewer modes")


def _grid_positional(text: str) -> dict:
    rows, x, cols = text.lower().partition("x")
    r = _number("grid", "rows", rows.strip())
    return {"rows": r, "cols": _number("grid", "cols", cols.strip()) if x else r}


def _grid_check(family: str, v: dict) -> None:
    if v["std"] >= v["spacing"] / 2:
        raise DataError(f"{family}: std must be below half the spacing ({v['spacing'] / 2:g}), got {v['std']:g} — "
                        "lower std or raise spacing")


def grid_centres(rows: int, cols: int, spacing: float = GRID_SPACING) -> np.ndarray:
    """rows x cols centres `spacing` apart, centred on 0, row by row (grid:5 is grid25's order)."""
    ys = (np.arange(rows) - (rows - 1) / 2) * spacing
    xs = (np.arange(cols) - (cols - 1) / 2) * spacing
    return np.array([(a, b) for a in ys for b in xs], dtype=float)


FAMILIES.add("ring", FamilyDef(
    (Param("n", 8, 2, 64, integer=True, help="modes on the ring", label="Modes N"),
     Param("radius", RING_RADIUS, 0.1, 100, help="the ring's radius", label="Radius"),
     Param("std", RING_STD, 0, 10, above_low=True, help="each Gaussian's std", label="Std")),
    "ring:N[,radius=R][,std=S], e.g. ring:12", "mixture", "ring:12,radius=2,std=0.02",
    centres=lambda v: ring8_centres(v["radius"], int(v["n"])), std="std",
    positional=_ring_positional, check=_ring_check),
    "N Gaussians on a circle, centres at angle 2πk/N (ring:8 is ring8); scored by modes covered and high quality")
FAMILIES.add("grid", FamilyDef(
    (Param("rows", 5, 2, 12, integer=True, help="rows of modes", label="Rows"),
     Param("cols", 5, 2, 12, integer=True, help="columns of modes", label="Columns"),
     Param("spacing", GRID_SPACING, 0.1, 100, help="distance between neighbouring centres", label="Spacing"),
     Param("std", GRID_STD, 0, 10, above_low=True, help="each Gaussian's std", label="Std")),
    "grid:K or grid:RxC[,spacing=S][,std=S], e.g. grid:7", "mixture", "grid:5,spacing=2,std=0.05 (or grid:3x4)",
    centres=lambda v: grid_centres(int(v["rows"]), int(v["cols"]), v["spacing"]), std="std",
    positional=_grid_positional, check=_grid_check),
    "A K x K (or R x C) grid of Gaussians centred on 0 (grid:5 is grid25); scored by modes covered and high quality")


# ---------------------------------------------------------------------------------------------- curves

def _spiral(v: dict, rng: np.random.RandomState, n: int) -> np.ndarray:
    """`arms` arms, each 1.5 turns out to radius 3; t ~ sqrt(U) spreads points evenly along the arm's length."""
    arms = int(v["arms"])
    arm = rng.randint(arms, size=n)
    t = np.sqrt(rng.uniform(0.0, 1.0, size=n))
    angle = 3 * math.pi * t + 2 * math.pi * arm / arms
    x = np.stack([3 * t * np.cos(angle), 3 * t * np.sin(angle)], axis=1)
    return x + v["noise"] * rng.randn(n, 2)


def _moons(v: dict, rng: np.random.RandomState, n: int) -> np.ndarray:
    """scikit-learn's two interleaving half circles (make_moons), scaled by 2 and centred on 0."""
    upper = rng.randint(2, size=n).astype(bool)
    t = rng.uniform(0.0, math.pi, size=n)
    x = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return 2 * (x - [0.5, 0.25]) + v["noise"] * rng.randn(n, 2)


def _swissroll(v: dict, rng: np.random.RandomState, n: int) -> np.ndarray:
    """scikit-learn's Swiss roll (make_swiss_roll) seen from its side, t in [1.5π, 4.5π], scaled by 1/5."""
    t = 1.5 * math.pi * (1 + 2 * rng.uniform(0.0, 1.0, size=n))
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5 + v["noise"] * rng.randn(n, 2)


_NOISE = "std of the Gaussian noise added to each point"


def _noise(default: float) -> Param:
    return Param("noise", default, 0, 1, help=_NOISE, label="Noise std")


FAMILIES.add("spiral", FamilyDef(
    (Param("arms", 2, 1, 8, integer=True, help="arms of the spiral", label="Arms"), _noise(0.05)),
    "spiral[:arms=A,noise=S]", "points", "spiral:arms=3,noise=0.05", curve=_spiral),
    "Arms winding 1.5 turns out from the centre; scored by sliced Wasserstein against held-out points")
FAMILIES.add("moons", FamilyDef(
    (_noise(0.1),), "moons[:noise=S]", "points", "moons:noise=0.1", curve=_moons),
    "Two interleaving half circles (scikit-learn's make_moons); scored by sliced Wasserstein against held-out points")
FAMILIES.add("swissroll", FamilyDef(
    (_noise(0.05),), "swissroll[:noise=S]", "points", "swissroll:noise=0.05", curve=_swissroll),
    "The 2-D Swiss roll (scikit-learn's make_swiss_roll, side view); scored by sliced Wasserstein against held-out points")


def families_help() -> str:
    """Every family's form in one line, for error messages and the CLI's help."""
    return ", ".join(e.obj.usage.split(", e.g.")[0] for e in FAMILIES)
