"""game.h5: the game's frames over time (ganlab.explore.game's format), appended on snapshot ticks by the trainer alone.

Why its own file beside samples.h5: a frame is a nested dict of a dozen arrays, not one array, and a page
replays it (D's surface, the fakes, the arrows, G's manifold) after a restart. Written as samples.h5 is: in
place (no copy per append), a resume rewrites frames past its step, a damaged file is moved aside
(game.h5.damaged) and a new one started, a full disk skips the frame; the run never fails for it.

Layout: each frame is flattened to "a/b" keys. Arrays that are the same for every frame of a run (the real
points, the plane) are stored once; every other array gets a dataset with a leading time axis, every
number a (T,) dataset, and strings, flags and index tuples (names, labels, dims) are attributes of "meta".
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import is_disk_full
from . import room
from .files import file_lock

STATIC = ("real", "plane/origin", "plane/basis")  # the same in every frame of a run: stored once
SERIES = "frames"  # the group of per-frame datasets
META = "meta"  # the group whose attributes hold the frame's strings, flags and tuples


# game.h5 is the largest and least needed file a point run appends (about 30 kB a frame): a frame that does not
# fit with FREE_RESERVE to spare (ganlab.store.room) is skipped without a word.
GROW = 32  # rows a series dataset grows by at once; `steps` says how many are frames (the readers take its length)
FREE_RESERVE = 16 * 2**20


class FrameMismatch(ValueError):
    """A frame whose keys or shapes differ from the file's: skipped, the file and its frames kept."""


def _flatten(frame: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in frame.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _split(frame: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(static arrays, per-frame arrays and numbers, attributes) of one frame; "step" is the steps dataset."""
    static, series, attrs = {}, {}, {}
    for name, value in _flatten(frame).items():
        if name == "step":
            continue
        if name in STATIC:
            static[name] = np.asarray(value)
        elif isinstance(value, np.ndarray):
            series[name] = value
        elif isinstance(value, (bool, np.bool_, str, tuple, list)):
            attrs[name] = value
        elif isinstance(value, (int, float, np.integer, np.floating)):
            series[name] = np.asarray(value)
        else:
            raise FrameMismatch(f"frame entry {name!r} of type {type(value).__name__} cannot be stored")
    return static, series, attrs


def _attr(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return np.asarray(value, dtype=np.int64)
    return np.bool_(value) if isinstance(value, (bool, np.bool_)) else value


def _create(f: h5py.File, static: dict, series: dict, attrs: dict) -> None:
    f.create_dataset("steps", shape=(0,), maxshape=(None,), dtype="i8")
    f.create_group("static")
    for name, a in static.items():
        f.create_dataset(f"static/{name}", data=a)
    for name, a in series.items():
        # gzip 1 with byte shuffle: D's smooth surface and the slowly moving points shrink to about half
        f.create_dataset(f"{SERIES}/{name}", shape=(0, *a.shape), maxshape=(None, *a.shape), dtype=a.dtype,
                         chunks=(1, *a.shape), **({"compression": "gzip", "compression_opts": 1, "shuffle": True}
                                                  if a.ndim else {}))
    meta = f.create_group(META)
    for name, value in attrs.items():
        meta.attrs[name] = _attr(value)


def _series_names(f: h5py.File) -> list[str]:
    names: list[str] = []
    f[SERIES].visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _append(path: Path, step: int, frame: dict[str, Any]) -> None:
    static, series, attrs = _split(frame)
    with h5py.File(path, "a") as f:
        if "steps" not in f:
            _create(f, static, series, attrs)
        elif META not in f:  # created last: a kill inside _create, or not our file
            raise KeyError(f"{path.name} has no {META} group")
        st = f["steps"]
        names = _series_names(f)
        if sorted(names) != sorted(series):
            raise FrameMismatch(f"the frame holds {sorted(series)}, the file {sorted(names)}")
        group = f[SERIES]
        dsets = {name: group[name] for name in names}  # one lookup each: h5py's path lookups were most of an append
        for name, a in series.items():
            if dsets[name].shape[1:] != a.shape:
                raise FrameMismatch(f"{name}: the file holds {dsets[name].shape[1:]}, the frame {a.shape}")
        n = min([len(st), *(len(ds) for ds in dsets.values())])
        keep = int(np.searchsorted(st[:n], step))  # a resume rewrites frames past its step
        for name, a in series.items():
            ds = dsets[name]
            if len(ds) <= keep:  # grown GROW rows at a time: a resize per dataset per frame was half the append
                ds.resize(keep + GROW, axis=0)
            ds[keep] = a
        st.resize(keep + 1, axis=0)  # the step last: a kill before it leaves the frame unread; rows past it are spare
        st[keep] = step


def append_game(path: Path, step: int, frame: dict[str, Any]) -> None:
    """Append one frame at `step`; never fails the run (a skipped frame is a warning, except for want of room)."""
    nbytes = sum(np.asarray(v).nbytes for v in _flatten(frame).values() if not isinstance(v, str))
    if not room.has_room(path, nbytes, FREE_RESERVE):
        return
    for attempt in range(40):
        try:
            with file_lock(path):
                _append(path, step, frame)
            return
        except BlockingIOError:  # another process (an h5 viewer) holds a lock on it: wait a little
            time.sleep(0.05)
        except FrameMismatch as e:
            warnings.warn(f"{path}: the frame of step {step} was skipped ({e})", stacklevel=2)
            return
        except (OSError, KeyError, ValueError, TypeError) as e:
            if attempt > 0 or not path.exists() or is_disk_full(e) or (isinstance(e, OSError) and _readable(path)):
                break  # a full disk (or a file-size limit) fails the append, not the file: keep every frame
            os.replace(path, path.with_name(path.name + ".damaged"))  # a kill mid-write, or not ours
            warnings.warn(f"{path} could not be appended to ({e}); moved to {path.name}.damaged", stacklevel=2)
    warnings.warn(f"{path}: the frame of step {step} was skipped (the file stayed locked, damaged or the disk "
                  f"full)", stacklevel=2)


def _readable(path: Path) -> bool:
    """Does the file still open as our frames (so the failed append was not its damage)?"""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return "steps" in f and SERIES in f and META in f
    except Exception:  # noqa: BLE001 - any failure to read is damage
        return False


def _from_attr(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return tuple(int(v) for v in value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, bytes):
        return value.decode()
    return value


class GameFrames:
    """A run's frames read into memory at once (a few bulk reads, no file kept open); frame(i) builds the dict."""

    def __init__(self, steps: np.ndarray, static: dict[str, np.ndarray], series: dict[str, np.ndarray],
                 attrs: dict[str, Any]):
        self.steps, self._static, self._series, self._attrs = steps, static, series, attrs

    @classmethod
    def empty(cls) -> GameFrames:
        return cls(np.zeros((0,), np.int64), {}, {}, {})

    def __len__(self) -> int:
        return len(self.steps)

    def frame(self, i: int) -> dict[str, Any]:
        """Frame i in ganlab.explore.game's format (arrays float32, numbers Python floats and ints)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} of {len(self)}")
        flat: dict[str, Any] = {"step": int(self.steps[i]), **self._static, **self._attrs}
        for name, a in self._series.items():
            v = a[i]
            flat[name] = v if v.ndim else v.item()
        return _unflatten(flat)


def read_game(path: Path) -> GameFrames:
    """Every complete frame of game.h5; no frames when it is missing or damaged (never raises).

    No HDF5 file lock is taken, so a page reading a CLI run can never make its trainer's append fail;
    a read that meets a half-written append is retried.
    """
    for attempt in range(3):
        try:
            with file_lock(path), h5py.File(path, "r", locking=False) as f:
                names = _series_names(f)
                n = min([len(f["steps"]), *(len(f[SERIES][name]) for name in names)])
                static: dict[str, np.ndarray] = {}
                f["static"].visititems(lambda name, obj: static.__setitem__(name, obj[()])
                                       if isinstance(obj, h5py.Dataset) else None)
                series = {name: f[SERIES][name][:n] for name in names}
                attrs = {name: _from_attr(v) for name, v in f[META].attrs.items()}
                return GameFrames(f["steps"][:n], static, series, attrs)
        except FileNotFoundError:
            break
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError):
            time.sleep(0.02 * (attempt + 1))
    return GameFrames.empty()
