"""What the Monitor page reads: one view of a run (live from memory, else from disk), cached figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import streamlit as st

from ..config import RunConfig
from ..data import dataset_spec, load_dataset
from ..data.base import DataSpec
from ..evaluation.evaluate import generate_from_run
from ..jobs import JobSnapshot
from ..store import LIVE_STATES, Run
from ..viz.series import count_values, is_number
from .manager import get_manager


@dataclass(frozen=True)
class RunView:
    """Everything the Monitor draws for one run at one moment."""

    run: Run
    config: RunConfig
    spec: Optional[DataSpec]
    state: str
    step: int
    history: tuple | list
    snapshot: Optional[JobSnapshot]  # None: the run is not in this process's manager

    @property
    def live(self) -> bool:
        """Training in this process: the page can pause, stop and retune it."""
        return self.state in LIVE_STATES and self.snapshot is not None

    @property
    def active(self) -> bool:
        """Training here or in another process (the CLI): worth polling."""
        return self.state in LIVE_STATES

    @property
    def writing_samples(self) -> bool:
        """samples.h5 may be open for append right now: HDF5 readers must keep away."""
        return self.state in ("created", "running")

    @property
    def version(self) -> tuple:
        """Changes whenever anything drawn from the history changes."""
        last = self.history[-1].get("step") if self.history else None
        return (self.run.id, len(self.history), last)


def open_run(run_id: str) -> Run:
    return Run.open(get_manager().runs_dir / run_id)


def run_view(run_id: str) -> RunView:
    """Live runs from the manager's memory (cheap copy); others from their directory (cached)."""
    manager = get_manager()
    run = open_run(run_id)
    snap = manager.snapshot(run_id)
    if snap is not None:
        return RunView(run, snap.config, _spec(snap.config.dataset), snap.state, snap.step, snap.history, snap)
    cfg = run.config()
    status = run.status()
    return RunView(run, cfg, _spec(cfg.dataset), status.get("state", "interrupted"),
                   int(status.get("step") or 0), disk_history(run), None)


def _spec(dataset: str) -> Optional[DataSpec]:
    try:
        return dataset_spec(dataset, get_manager().data_root)
    except Exception:  # noqa: BLE001 - a missing HDF5 file: charts still work
        return None


def _stamp(path) -> tuple:
    try:
        s = path.stat()
        return (s.st_size, s.st_mtime_ns)
    except OSError:
        return (0, 0)


def disk_history(run: Run) -> list[dict]:
    """stats.jsonl, re-read only when the file changed (never mutate the result)."""
    return _history_cached(str(run.path), _stamp(run.stats_path))


@st.cache_resource(max_entries=16, show_spinner=False)
def _history_cached(path: str, stamp: tuple) -> list[dict]:
    return Run(path).history()


def disk_samples(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(steps, samples) of samples.h5, re-read only when the file changed."""
    return _samples_cached(str(run.path), _stamp(run.samples_path))


@st.cache_resource(max_entries=8, show_spinner=False)
def _samples_cached(path: str, stamp: tuple) -> tuple[np.ndarray, np.ndarray]:
    return Run(path).read_samples()


def as_unit(samples: np.ndarray, spec: Optional[DataSpec]) -> np.ndarray:
    """Stored samples (uint8 images) as floats in [0, 1]; points unchanged."""
    return samples.astype(np.float32) / 255.0 if samples.dtype == np.uint8 else samples


@st.cache_resource(max_entries=8, show_spinner=False)
def real_points(dataset: str, n: int = 1000) -> Optional[np.ndarray]:
    """A fixed subset of a 2-D dataset (the same one the live preview shows)."""
    try:
        x, _ = load_dataset(dataset, "cpu", root=get_manager().data_root).take(n, seed=1)
    except Exception:  # noqa: BLE001 - the view simply shows fewer layers
        return None
    return x.numpy()


@st.cache_resource(max_entries=8, show_spinner=False)
def final_samples(run_dir: str, checkpoint: str, n: int = 1000) -> Optional[np.ndarray]:
    """n samples from a finished run's last checkpoint (keyed by that checkpoint's name)."""
    try:
        return generate_from_run(Run(run_dir), n, seed=0)
    except Exception:  # noqa: BLE001
        return None


def cached_figure(name: str, key: tuple, build: Callable[[], Any]) -> Any:
    """Rebuild a figure only when its inputs changed (per tab); figures are never mutated."""
    cache = st.session_state.setdefault("_monitor_figs", {})
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    fig = build()
    cache[name] = (key, fig)
    return fig


def coverage_drop(history, key: str) -> Optional[tuple[float, float, int]]:
    """(latest, best, step of best) when the latest value of a coverage metric is below its best."""
    vals = [(r["step"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
    if not vals:
        return None
    best_step, best = max(vals, key=lambda sv: (sv[1], -sv[0]))
    latest = vals[-1][1]
    return (latest, best, best_step) if latest < best else None


def last_value(history, key: str) -> Optional[float]:
    for rec in reversed(history):
        v = rec.get(key)
        if is_number(v):
            return float(v)
    return None


def value_counts(view: RunView) -> Counter:
    """How many records carry a number for each key, counting only the records new since the last rerun.

    Which charts show and when a metric chart is rebuilt are read off these counts on every
    refresh; a full scan per chart would grow with the run while the trainer waits for the GIL.
    A history that no longer starts with what was counted (another run, or a resume that dropped
    the records past its checkpoint) is counted again from the start.
    """
    h, rid = view.history, view.run.id
    hit = st.session_state.get("_monitor_counts")
    if hit is not None:
        hit_rid, n, last_step, counts = hit
        if hit_rid == rid and n <= len(h) and (n == 0 or h[n - 1].get("step") == last_step):
            if n < len(h):
                counts = counts + count_values(h[n:])  # a new Counter: the cached one is never mutated
        else:
            hit = None
    if hit is None:
        counts = count_values(h)
    st.session_state["_monitor_counts"] = (rid, len(h), h[-1].get("step") if h else None, counts)
    return counts
