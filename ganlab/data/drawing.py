"""Drawing 2-D data by hand, as GAN Lab lets you: clicks, strokes and boxes become points, and a drawn set
becomes a `points:NAME.npy` dataset in the data root.

Pure functions (numpy in, numpy out, seeded), so the Data page only translates its chart's
selection event (`action_from_selection`) and keeps the list of actions: undo drops the last one.
Every point stays inside the drawing square, so what is saved is what the page showed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import DataError
from ..paths import data_root
from .points import MAX_ROWS, MIN_ROWS, NPY_SUFFIX, POINTS_DIR, POINTS_PREFIX, TEXT_SUFFIXES

SQUARE = (-3.0, 3.0)  # the drawing area on both axes
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_CLICKS = 32  # points of one click selection that each get a blob (a shift-click can pick many)
LASSO_MODES = ("brush", "fill")  # a lasso stroke: points along its path, or filling the shape it encloses


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def inside(points: np.ndarray, square: tuple[float, float] = SQUARE) -> np.ndarray:
    """Which rows lie inside the square (borders included)."""
    lo, hi = square
    return ((points >= lo) & (points <= hi)).all(axis=1)


def _kept_inside(draw: Callable[[int], np.ndarray], n: int, square=SQUARE, tries: int = 64) -> np.ndarray:
    """n points from `draw(k)` that lie inside the square, drawn again where they fell outside (never clipped,
    which would pile points on the border); after `tries` rounds the rest are clipped."""
    out = np.zeros((0, 2))
    for _ in range(tries):
        if len(out) >= n:
            break
        batch = draw(max(2 * (n - len(out)), 16))
        out = np.concatenate([out, batch[inside(batch, square)]])
    if len(out) < n:
        out = np.concatenate([out, np.clip(draw(n - len(out)), *square)])
    return out[:n].astype(np.float32)


def spray(centre: Sequence[float], n: int, std: float, seed: int, square=SQUARE) -> np.ndarray:
    """A Gaussian blob of n points around `centre` (a click)."""
    rng, c = _rng(seed), np.asarray(centre, dtype=float)
    return _kept_inside(lambda k: c + std * rng.standard_normal((k, 2)), n, square)


def brush(xs: Sequence[float], ys: Sequence[float], n: int, std: float, seed: int, square=SQUARE) -> np.ndarray:
    """n points spread evenly by arc length along the path (xs, ys), each jittered by `std`: a brush stroke."""
    path = np.stack([np.asarray(xs, float), np.asarray(ys, float)], 1)
    if len(path) < 2:
        return spray(path[0] if len(path) else (0.0, 0.0), n, std, seed, square)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] == 0:
        return spray(path[0], n, std, seed, square)
    rng = _rng(seed)

    def draw(k: int) -> np.ndarray:
        s = rng.uniform(0, cum[-1], k)
        i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
        t = ((s - cum[i]) / np.where(seg[i] > 0, seg[i], 1.0))[:, None]
        return path[i] + t * (path[i + 1] - path[i]) + std * rng.standard_normal((k, 2))

    return _kept_inside(draw, n, square)


def fill_box(x_range: Sequence[float], y_range: Sequence[float], n: int, seed: int, square=SQUARE) -> np.ndarray:
    """n points uniform in the rectangle (its part inside the square)."""
    lo, hi = square
    x0, x1 = np.clip(sorted(map(float, x_range)), lo, hi)
    y0, y1 = np.clip(sorted(map(float, y_range)), lo, hi)
    rng = _rng(seed)
    return np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], 1).astype(np.float32)


def in_polygon(points: np.ndarray, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """Even-odd rule: which points lie inside the closed polygon (xs, ys)."""
    px, py = np.asarray(xs, float), np.asarray(ys, float)
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    x, y = points[:, :1], points[:, 1:2]
    crosses = (py > y) != (qy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = px + (y - py) * (qx - px) / (qy - py)
    return ((crosses & (x < at)).sum(axis=1) % 2) == 1


def fill_polygon(xs: Sequence[float], ys: Sequence[float], n: int, seed: int, square=SQUARE) -> np.ndarray:
    """n points uniform inside the closed polygon (xs, ys), by rejection from its bounding box."""
    px, py = np.asarray(xs, float), np.asarray(ys, float)
    if len(px) < 3:
        return brush(px, py, n, 0.05, seed, square)
    rng = _rng(seed)
    lo, hi = square
    x0, x1 = np.clip([px.min(), px.max()], lo, hi)
    y0, y1 = np.clip([py.min(), py.max()], lo, hi)
    out = np.zeros((0, 2))
    for _ in range(200):
        if len(out) >= n:
            break
        cand = np.stack([rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n)], 1)
        out = np.concatenate([out, cand[in_polygon(cand, px, py)]])
    if len(out) < n:  # a sliver of a polygon: points along its outline instead
        out = np.concatenate([out, brush(np.r_[px, px[:1]], np.r_[py, py[:1]], n - len(out), 0.0, seed, square)])
    return out[:n].astype(np.float32)


def action_from_selection(selection: Mapping[str, Any], *, n: int, std: float, seed: int,
                          lasso: str = "brush") -> Optional[np.ndarray]:
    """The points one chart selection adds, from Streamlit's Plotly selection state ({"points": [{"x", "y",
    ...}], "box": [{"x": [x0, x1], "y": [y0, y1]}], "lasso": [{"x": [...], "y": [...]}]}); None when it
    selects nothing. A box fills its rectangle, a lasso brushes its path (or fills it), a click sprays a blob.
    """
    boxes, lassos = selection.get("box") or [], selection.get("lasso") or []
    if boxes:
        b = boxes[-1]
        return fill_box(b["x"], b["y"], n, seed) if len(b.get("x", ())) == 2 and len(b.get("y", ())) == 2 else None
    if lassos:
        path = lassos[-1]
        xs, ys = list(path.get("x", ())), list(path.get("y", ()))
        if not xs:
            return None
        if lasso == "fill":
            return fill_polygon(xs, ys, n, seed)
        return brush(xs, ys, n, std, seed)
    clicks = [(p["x"], p["y"]) for p in selection.get("points") or [] if "x" in p and "y" in p][:MAX_CLICKS]
    if not clicks:
        return None
    return np.concatenate([spray(c, n, std, seed + 7919 * i) for i, c in enumerate(clicks)])


@dataclass
class Drawing:
    """A drawn set as the list of actions that made it: undo drops the last, clear drops all."""

    actions: list[np.ndarray] = field(default_factory=list)
    seed: int = 0  # the next action's seed: one per action, so a replayed session draws the same points

    def add(self, points: Optional[np.ndarray]) -> bool:
        if points is None or len(points) == 0:
            return False
        room = MAX_ROWS - len(self)
        if room <= 0:
            return False
        self.actions.append(np.asarray(points, dtype=np.float32)[:room])
        self.seed += 1
        return True

    def apply(self, selection: Optional[Mapping[str, Any]], *, n: int, std: float, lasso: str = "brush") -> bool:
        """Add what one chart selection draws (see `action_from_selection`); False when it drew nothing."""
        if not selection:
            return False
        return self.add(action_from_selection(selection, n=n, std=std, seed=self.seed, lasso=lasso))

    def undo(self) -> None:
        if self.actions:
            self.actions.pop()

    def clear(self) -> None:
        self.actions.clear()

    def points(self) -> np.ndarray:
        return np.concatenate(self.actions) if self.actions else np.zeros((0, 2), np.float32)

    def __len__(self) -> int:
        return sum(len(a) for a in self.actions)


# ---------------------------------------------------------------------------------------------- saving

def point_sets_dir(root=None) -> Path:
    return data_root(root) / POINTS_DIR


def saved_path(name: str, root=None) -> Path:
    return point_sets_dir(root) / f"{name}{NPY_SUFFIX}"


def name_problem(name: str) -> Optional[str]:
    if not NAME_RE.fullmatch(name or ""):
        return "the name may use letters, digits, - and _ only (1 to 64 characters)"
    return None


def save_points(points: np.ndarray, name: str, root=None, *, overwrite: bool = False) -> Path:
    """Write `<data root>/points/NAME.npy` atomically (a temporary file renamed into place); an existing
    file is replaced only with overwrite=True. -> the path; `points:NAME.npy` then names the dataset."""
    problem = name_problem(name)
    if problem:
        raise DataError(f"cannot save the points as {name!r}: {problem}")
    x = np.asarray(points, dtype=np.float32)
    if x.ndim != 2 or not 1 <= x.shape[1]:
        raise DataError(f"cannot save points of shape {x.shape}: a point set is (N, D)")
    if len(x) < MIN_ROWS:
        raise DataError(f"{len(x)} points are too few to train on: draw at least {MIN_ROWS}")
    if not np.isfinite(x).all():
        raise DataError("some points are not finite numbers: clear them and draw again")
    out = saved_path(name, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not overwrite:
        raise DataError(f"{out.name} already exists in {out.parent}: tick overwrite, or choose another name")
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".npy.tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, x, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, out)
        else:
            _link_new(tmp, out)
    except FileExistsError:
        os.unlink(tmp)
        raise DataError(f"{out.name} already exists in {out.parent}: tick overwrite, or choose another name") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


def _link_new(tmp: str, out: Path) -> None:
    """Put tmp at out only if out does not exist (a hard link fails if a file of that name appeared meanwhile);
    where the filesystem has no hard links, a rename after the check."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise
    except OSError:
        if out.exists():
            raise FileExistsError(str(out)) from None
        os.replace(tmp, out)
        return
    os.unlink(tmp)


def dataset_name(path: Path) -> str:
    """The `points:` name a saved file is known by (its file name: resolved under <data root>/points/)."""
    return f"{POINTS_PREFIX}{path.name}"


def saved_point_sets(root=None) -> list[str]:
    """`points:NAME.npy` (and .csv) for every file in <data root>/points/, sorted."""
    folder = point_sets_dir(root)
    if not folder.is_dir():
        return []
    return [dataset_name(p) for p in sorted(folder.iterdir())
            if p.suffix.lower() in (NPY_SUFFIX, *TEXT_SUFFIXES) and not p.name.startswith(".") and p.is_file()]
