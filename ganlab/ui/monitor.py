"""What the Monitor page reads: one view of a run (live from memory, else from disk), cached figures."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import streamlit as st

from ..config import RunConfig
from ..data import dataset_spec, load_dataset
from ..data.base import DataSpec
from ..evaluation.evaluate import generate_from_run
from ..game.schedules import lr_factor
from ..jobs import JobSnapshot
from ..store import LIVE_STATES, Run
from ..viz import images
from ..viz.progress import add_reading, reading_rate, speed_text
from ..viz.series import RecipeChange, count_values, is_number, recipe_changes
from .manager import get_manager


@dataclass(frozen=True)
class RunView:
    """Everything the Monitor draws for one run at one moment."""

    run: Run
    config: RunConfig
    spec: Optional[DataSpec]
    state: str
    step: int  # the trainer's step now for a run in this process (it moves between ticks), else status.json's
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
        return RunView(run, snap.config, _spec(snap.config.dataset), snap.state, max(snap.current_step, snap.step),
                       snap.history, snap)
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


GRID_PX = 720  # a sample grid is built about this wide, in whole pixels, then fits its column


def sample_grid(samples: np.ndarray, spec: Optional[DataSpec], conditional: bool, *, width_px: int = GRID_PX) -> np.ndarray:
    """The fixed batch as one image about width_px across (and at most that tall): small images are
    enlarged by whole pixels (nearest neighbour), so the page shows a sharp grid that fits its column,
    shrinking it if need be, never blurring a small one up. A conditional run's batch is ordered class
    by class: one row per class."""
    k = spec.num_classes if (spec is not None and conditional) else 0
    nrow = max(1, len(samples) // k) if k else None
    ncol = min(nrow or math.ceil(math.sqrt(len(samples))), len(samples))
    nrows = -(-len(samples) // ncol)
    return images.image_grid(samples, nrow=nrow, min_tile=max(32, -(-width_px // max(ncol, nrows))))


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


# ---------------------------------------------------------------- the recipe now, and its changes

RECIPE_FIELDS = ("lr_d", "lr_g", "d_steps")  # what "Change lr / k" sets


def schedule_factor(cfg: RunConfig) -> Optional[Callable[[float], float]]:
    """The lr schedule's factor behind a record's learning rates (None: a constant schedule, factor 1).

    A record at step s was trained by the update after s - 1 steps, which used the factor of s - 1.
    """
    if cfg.lr_schedule == "constant":
        return None
    return lambda step: lr_factor(cfg.lr_schedule, max(int(step) - 1, 0), cfg.steps, cfg.lr_end_factor)


def live_recipe(cfg: RunConfig, hparams: Optional[dict], history: Sequence[dict]) -> dict:
    """lr_d, lr_g (the base rates a person sets) and d_steps as the run trains now.

    The job's live values first (a change shows before the next tick), else the newest record's
    (a run from disk, or a resumed one before its trainer is ready), and config.json's start
    values only for a run that has neither: after a live change or a resume they are stale.
    """
    if hparams:
        return {f: hparams.get(f, getattr(cfg, f)) for f in RECIPE_FIELDS}
    for rec in reversed(history):  # the newest record that has them: a few from the end
        if is_number(rec.get("k")) and is_number(rec.get("LR/D")) and is_number(rec.get("LR/G")):
            factor = schedule_factor(cfg)
            f = factor(rec.get("step") or 0) if factor else 1.0
            f = f if f > 0 else 1.0
            return {"lr_d": rec["LR/D"] / f, "lr_g": rec["LR/G"] / f, "d_steps": int(rec["k"])}
    return {f: getattr(cfg, f) for f in RECIPE_FIELDS}


def view_recipe(view: RunView) -> dict:
    hparams = view.snapshot.hparams if view.snapshot is not None else None
    history = view.history
    if not hparams and not history and view.snapshot is not None:
        history = disk_history(view.run)  # a resumed job before its trainer is ready: the records it continues
    return live_recipe(view.config, hparams, history)


def run_changes(view: RunView) -> tuple[RecipeChange, ...]:
    """The live changes of lr and k in this run's records (a resume's lr × 0.5 included)."""
    return tuple(recipe_changes(view.history, base=schedule_factor(view.config)))


# ---------------------------------------------------------------- the time-lapse's one list

def timelapse_frames(steps, upto: Optional[int]) -> list[tuple[int, int]]:
    """(step, row in samples.h5) of each snapshot the time-lapse may show, oldest first, each step once.

    Only snapshots at or before the run's step: a resume from an earlier checkpoint leaves the old
    snapshots past it in samples.h5 until its first new one overwrites them, and those show a
    G the run no longer has.
    """
    rows: dict[int, int] = {}
    for row, step in enumerate(int(s) for s in steps):
        if upto is None or step <= upto:
            rows[step] = row  # a repeated step: the newer row
    return sorted(rows.items())


def pick_frame(frames: Sequence[tuple[int, int]], wanted: Optional[int]) -> int:
    """Index of the frame to show: the wanted step, else the newest one before it (it was dropped),
    else the first; None wanted: the newest (follow the run)."""
    if not frames:
        raise ValueError("no snapshots to pick from")
    if wanted is None:
        return len(frames) - 1
    before = [i for i, (step, _) in enumerate(frames) if step <= wanted]
    return before[-1] if before else 0


STRIP_FRAMES = 10  # snapshots in the downloadable strip, evenly spaced, the first and the last always in
STRIP_SAMPLES = 16  # of the fixed batch, as a 4x4 grid per snapshot


def evenly_spaced(n: int, k: int) -> list[int]:
    """k (at most n) indices of range(n), evenly spaced, with 0 and n - 1 among them."""
    k = min(k, n)
    if k <= 1:
        return [n - 1] if n else []
    return sorted({round(j * (n - 1) / (k - 1)) for j in range(k)})


def timelapse_strip_png(run_id: str, frames: Sequence[tuple[int, int]], samples: np.ndarray,
                        spec: Optional[DataSpec]) -> bytes:
    """A PNG that reads on its own: evenly spaced snapshots of the first samples, each labelled with its step."""
    picks = [frames[j] for j in evenly_spaced(len(frames), STRIP_FRAMES)]
    tiles = [images.image_grid(as_unit(samples[row][:STRIP_SAMPLES], spec), nrow=4, padding=1, min_tile=1)
             for _, row in picks]
    return images.labelled_strip_png(tiles, [f"step {step:,}" for step, _ in picks], min_size=160,
                                     title=f"{run_id} · the fixed latent batch over training (first {STRIP_SAMPLES})")


# ---------------------------------------------------------------- live speed

def live_speed(view: RunView) -> Optional[float]:
    """Steps per second from this tab's readings of the trainer's step (taken on each refresh of the
    status line), so the speed moves between log ticks; the records' speed until two readings exist.

    Readings restart when the run or its state changes: a pause must not drag the speed down after.
    """
    hit = st.session_state.get("_monitor_readings")
    readings = hit[2] if hit is not None and hit[:2] == (view.run.id, view.state) else ()
    if view.state == "running":
        readings = add_reading(readings, time.monotonic(), view.step)
    st.session_state["_monitor_readings"] = (view.run.id, view.state, readings)
    sps = reading_rate(readings) if view.state == "running" else None
    if sps is None:
        recorded = speed_text(view.history, view.config.steps)[0]
        sps = recorded if recorded > 0 else None
    return sps


# ---------------------------------------------------------------- the game (issue #17)

def is_game_run(spec: Optional[DataSpec]) -> bool:
    """Point data of 2 or more dimensions: the engine makes game frames for it (a named plane for D > 2)."""
    return spec is not None and spec.kind == "points" and len(spec.shape) == 1 and spec.shape[0] >= 2


def live_game_frame(view: RunView) -> Optional[dict]:
    """The newest game frame the trainer made (the live preview's), None before the first or for a run elsewhere."""
    preview = view.snapshot.preview if view.snapshot is not None else None
    return preview.get("game") if preview else None


def _game_path(run: Run):
    return getattr(run, "game_path", run.path / "game.h5")


def disk_game(run: Run):
    """game.h5's frames (a GameFrames: steps, frame(i)), re-read only when the file changed; None: no frames.

    A damaged or missing file reads as no frames (the store's promise), so the page falls back to samples.h5.
    """
    return _game_cached(str(run.path), _stamp(_game_path(run)))


@st.cache_resource(max_entries=8, show_spinner=False)
def _game_cached(path: str, stamp: tuple):
    if stamp == (0, 0):
        return None
    frames = Run(path).game_frames()
    return frames if len(frames) else None


def game_frame_at(run: Run, index: int) -> Optional[dict]:
    """One frame of game.h5 (cached per file version: the replay slider moves back and forth over them)."""
    return _game_frame_cached(str(run.path), _stamp(_game_path(run)), int(index))


@st.cache_resource(max_entries=64, show_spinner=False)
def _game_frame_cached(path: str, stamp: tuple, index: int) -> Optional[dict]:
    frames = _game_cached(path, stamp)
    return frames.frame(index) if frames is not None and 0 <= index < len(frames) else None


def nearest_index(steps, step: int) -> int:
    """The index of the snapshot step nearest `step` (the earlier one on a tie); steps is not empty."""
    s = np.asarray(steps, dtype=np.int64)
    return int(np.argmin(np.abs(s - int(step)) * 2 + (s > step)))


def game_frame_near(view: RunView, step: Optional[int]) -> Optional[dict]:
    """The run's game frame nearest `step` (None: its newest): game.h5 when it can be read (not being written),
    else the live preview's frame of a run in this process."""
    if not view.writing_samples:
        frames = disk_game(view.run)
        if frames is not None:
            i = len(frames) - 1 if step is None else nearest_index(frames.steps, step)
            return game_frame_at(view.run, i)
    return live_game_frame(view)


REPLAY_GIF_FRAMES = 60  # a replay GIF holds at most this many frames, evenly spaced, the first and last always in


def replay_gif(run: Run, frames: Sequence[tuple[int, int]], *, arrows: bool, manifold: bool) -> bytes:
    """The game's replay as a GIF: D's surface, the fakes, and the arrows and manifold as the toggles say."""
    picks = [frames[j][1] for j in evenly_spaced(len(frames), REPLAY_GIF_FRAMES)]
    drawn = [f for f in (game_frame_at(run, i) for i in picks) if f is not None]
    return images.game_gif(drawn, arrows=arrows, manifold=manifold)


def step_blocker(view: RunView, manager) -> Optional[str]:
    """Why the step buttons are off, as the sentence shown instead; None: the run can be stepped now."""
    snap = view.snapshot
    if not hasattr(manager, "step_once"):
        return "Step-by-step needs the engine's step mode, which this installation lacks."
    if snap is not None and snap.diverged:
        return "The run diverged: resume it with a lower learning rate first."
    if view.state in ("created", "running") and snap is not None:
        return "Pause the run to step through the game one update at a time."
    if view.state == "paused" and snap is not None:
        return None
    if view.active:
        return ("This run trains in another process: step-by-step works for a run training in this app "
                "(stop it there and resume it here).")
    return "The run has ended: resume it, then pause it, to step through the game one update at a time."


STEP_PARTS = {"d": ("One D step", "Taking one D step…"), "g": ("One G step", "Taking one G step…"),
              "iteration": ("One iteration", "Finishing the iteration…")}


def iteration_text(iteration: tuple[int, int]) -> str:
    """'D step 1 of 2 taken in this iteration: next, another D step or the G step that ends it.'"""
    done, k = iteration
    if done == 0:
        return f"A new iteration: {k} D step{'s' if k != 1 else ''}, then one G step."
    if done >= k:
        return f"D step {done} of {k} taken: next, the G step that ends the iteration."
    return f"D step {done} of {k} taken in this iteration: next, another D step or the G step that ends it early."
