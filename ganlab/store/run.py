"""A run directory: the one object that knows every path in it (pages never build paths).

runs/<00042-ring8-mlp-bce>/
  config.json     the whole RunConfig, written before step 0
  status.json     state, step, error; replaced atomically
  stats.jsonl     one JSON line per tick, flushed
  samples.h5      fixed-z snapshots over time (written only by the trainer)
  game.h5         the game's frames (points, arrows, D's surface, G's manifold) on the same ticks, point runs
  checkpoints/    ckpt-<step>.pt, atomic, the newest N kept
  train.lock      flock'd by the one session training the run (ganlab.store.lock)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..config import RunConfig
from ..errors import ConfigError, RunError
from .checkpoint import encode_checkpoint, load_checkpoint_file
from .files import append_jsonl, atomic_write_bytes, atomic_write_json, is_temp_file, read_json_object, read_jsonl, temp_file_pid
from .game import GameFrames, append_game, read_game
from .lock import TrainingLock
from .owner import OWNER, owner_alive
from .samples import append_samples, read_samples
from .status import LIVE_STATES, STATES, status_problem, typed_status

__all__ = ["LIVE_STATES", "STATES", "Run", "list_runs", "run_name"]

CHECKPOINT_NAME = re.compile(r"ckpt-\d{9,18}\.pt")  # what checkpoint_path() writes; a stray ckpt-x.pt is not one


def _safe(text: str, limit: int) -> str:
    """A name part that is safe on every filesystem: letters, digits, _ . - only, no leading dot."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:limit].strip("._-")


def run_name(n: int, cfg: RunConfig) -> str:
    """`<n:05d>-<dataset>-<arch>-<loss>[-cond][-<preset>]`: what sets a run apart, short and filesystem-safe.

    The preset is left out where it only repeats the dataset, arch or loss (ring8, dcgan, wgan, ...).
    """
    from_file = cfg.dataset.startswith(("points:", "hdf5:"))  # a file's stem; a family's whole name (ring:12 -> ring_12)
    data = _safe(Path(cfg.dataset.split(":", 1)[-1]).stem if from_file else cfg.dataset, 40)
    parts = [f"{n:05d}", data, _safe(cfg.arch, 20), _safe(cfg.loss, 20)]
    if cfg.conditional:
        parts.append("cond")
    preset = _safe(getattr(cfg, "preset", ""), 24)
    if preset and preset not in parts:
        parts.append(preset)
    return "-".join(p for p in parts if p)


class Run:
    """One run directory on disk; cheap to create, reads lazily."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # ------------------------------------------------------------------ paths
    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def stats_path(self) -> Path:
        return self.path / "stats.jsonl"

    @property
    def samples_path(self) -> Path:
        return self.path / "samples.h5"

    @property
    def game_path(self) -> Path:
        return self.path / "game.h5"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, runs_dir: str | os.PathLike, cfg: RunConfig) -> Run:
        """Allocate a directory named by run_name() (mkdir is the lock) and write config.json."""
        run, lock = cls.create_locked(runs_dir, cfg)
        lock.release()
        return run

    @classmethod
    def create_locked(cls, runs_dir: str | os.PathLike, cfg: RunConfig) -> tuple[Run, TrainingLock]:
        """create(), holding the run's training lock from the moment its directory exists.

        checkpoints/ comes before config.json: a kill in between leaves a folder that is no run
        (no config.json), never a run that trains and then cannot save its checkpoint.
        """
        root = Path(runs_dir)
        root.mkdir(parents=True, exist_ok=True)
        for _ in range(1000):
            n = 1 + max((int(p.name[:5]) for p in root.iterdir() if p.name[:5].isdigit()), default=-1)
            path = root / run_name(n, cfg)
            try:
                path.mkdir()
            except FileExistsError:
                continue  # another process took this number first
            run = cls(path)
            lock = TrainingLock.acquire(path)
            try:
                run.checkpoints_dir.mkdir()
                atomic_write_bytes(run.config_path, cfg.to_json().encode())
                run.write_status("created", 0)
            except BaseException:
                lock.release()
                raise
            return run, lock
        raise RunError(f"could not allocate a run directory in {root}")

    def lock_training(self) -> TrainingLock:
        """The run's training lock, or a RunError saying another process or session trains it."""
        return TrainingLock.acquire(self.path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        run = cls(path)
        if not run.config_path.is_file():
            raise RunError(f"{path} is not a ganlab run (no config.json)")
        return run

    def write_config(self, cfg: RunConfig) -> None:
        """Replace config.json (a resume that trains to a new total writes it, so every reader agrees)."""
        atomic_write_bytes(self.config_path, cfg.to_json().encode())

    def config(self) -> RunConfig:
        """The run's RunConfig; anything else in config.json (bytes, depth, types) is a RunError."""
        try:
            return RunConfig.from_dict(read_json_object(self.config_path))
        except RunError as e:
            raise RunError(f"{self.id}: {e}") from None
        except (ConfigError, ValueError, TypeError, ArithmeticError, RecursionError) as e:
            raise RunError(f"{self.id}: config.json: {str(e)[:300]}") from None

    def delete(self) -> None:
        shutil.rmtree(self.path)

    # --------------------------------------------------------------- status
    def write_status(self, state: str, step: int, **extra: Any) -> None:
        """Replace status.json; only the fields in ganlab.store.status.FIELDS are read back."""
        assert state in STATES, state
        atomic_write_json(self.status_path, {"state": state, "step": int(step), "time": time.time(),
                                             "owner": OWNER, **extra})

    def status(self) -> dict[str, Any]:
        """The status with the documented field types (ganlab.store.status); never raises.

        'running' from a dead process reads as 'interrupted'; a missing or damaged status.json
        reads as 'interrupted' at the last checkpoint, with a sentence saying so in 'error'.
        """
        try:
            st = read_json_object(self.status_path)
            problem = status_problem(st)
            damage = f"status.json is damaged ({problem})" if problem else None
        except RunError as e:
            damage = str(e)
        if damage:
            return {"state": "interrupted", "step": self.last_checkpoint_step() or 0,
                    "error": f"{damage}; resume continues from the last checkpoint"}
        st = typed_status(st)
        if st["state"] in LIVE_STATES and not owner_alive(st.get("owner", "")):
            st["state"] = "interrupted"
        return st

    # ---------------------------------------------------------------- stats
    def append_stats(self, record: dict[str, Any]) -> None:
        append_jsonl(self.stats_path, record)

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def history(self, after_step: Optional[int] = None) -> list[dict[str, Any]]:
        """Tick records; a torn last line (a kill mid-write) is skipped, not an error."""
        return list(read_jsonl(self.stats_path, after_step))

    def metrics_history(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.metrics_path, None))

    def truncate_history(self, step: int) -> None:
        """Drop records past `step` (a resume from an earlier checkpoint replays them)."""
        for path in (self.stats_path, self.metrics_path):
            if path.exists():
                keep = [r for r in read_jsonl(path, None) if r.get("step", 0) <= step]
                atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())

    # -------------------------------------------------------------- samples
    def append_samples(self, step: int, samples: np.ndarray) -> None:
        """Append one fixed-z snapshot (ganlab.store.samples); never fails the run."""
        append_samples(self.samples_path, step, samples)

    def read_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps (T,), samples (T, N, ...)); empty arrays when there are none or the file is damaged."""
        return read_samples(self.samples_path)

    # ----------------------------------------------------------------- game
    def append_game(self, step: int, frame: dict[str, Any]) -> None:
        """Append one game frame (ganlab.store.game); never fails the run."""
        append_game(self.game_path, step, frame)

    def game_frames(self) -> GameFrames:
        """The run's game frames (ganlab.store.game.GameFrames); none when game.h5 is missing or damaged."""
        return read_game(self.game_path)

    # ---------------------------------------------------------- checkpoints
    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"ckpt-{step:09d}.pt"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (temp files from a kill mid-write are ignored)."""
        try:
            found = [p for p in self.checkpoints_dir.glob("ckpt-*.pt") if CHECKPOINT_NAME.fullmatch(p.name)]
        except OSError:  # no checkpoints/ (yet), or one this process may not read
            return []
        return sorted(found, key=lambda p: int(p.stem[5:]))

    def last_checkpoint_step(self) -> Optional[int]:
        c = self.checkpoints()
        return int(c[-1].stem[5:]) if c else None

    def save_checkpoint(self, state: dict[str, Any], step: int, keep: int) -> Path:
        """Write atomically, keep the newest `keep`; NaN/inf weights are refused (NonFiniteWeights)."""
        data = encode_checkpoint(state, step)  # raises NonFiniteWeights before anything is written
        self.checkpoints_dir.mkdir(exist_ok=True)  # an older ganlab killed inside create() left none
        self.remove_stale_temp_files(self.checkpoints_dir)  # a kill mid-write left them; never loaded
        path = self.checkpoint_path(step)
        atomic_write_bytes(path, data)
        for old in self.checkpoints()[:-keep]:
            old.unlink(missing_ok=True)
        return path

    def remove_stale_temp_files(self, *folders: Path) -> None:
        """Delete temp files that killed processes left (atomic writes of other pids): only the session
        holding the training lock writes a run, so none of them is still being written."""
        for folder in folders or (self.path, self.checkpoints_dir):
            try:
                stale = [p for p in folder.iterdir() if is_temp_file(p.name) and temp_file_pid(p.name) != os.getpid()]
            except OSError:
                continue
            for p in stale:
                p.unlink(missing_ok=True)

    def load_checkpoint(self, path: Optional[Path] = None, map_location="cpu") -> dict[str, Any]:
        """Newest readable checkpoint, loaded without executing code (weights_only=True)."""
        candidates = [path] if path else list(reversed(self.checkpoints()))
        errors = []
        for p in candidates:
            try:
                return load_checkpoint_file(p, map_location)
            except RunError as e:
                errors.append(str(e))
        if errors:
            raise RunError(f"no usable checkpoint in {self.checkpoints_dir}: {errors[0]}")
        raise RunError(f"{self.id} has no checkpoint yet; it is written every checkpoint_every steps")


def list_runs(runs_dir: str | os.PathLike) -> list[Run]:
    """Every run directory under runs_dir, newest first; one unreadable entry is skipped, never fatal."""
    root = Path(runs_dir)
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return []
    except OSError as e:
        raise RunError(f"the run store {root} cannot be listed ({e.strerror}); check that it is a readable folder") from None
    return sorted((Run(p) for p in entries if _is_run_dir(p)), key=lambda r: r.id, reverse=True)


NOT_RUNS = ("sweeps",)  # folders of the run store that hold no run: ganlab.sweeps keeps its sweeps there


def _is_run_dir(path: Path) -> bool:
    try:
        return path.name not in NOT_RUNS and (path / "config.json").is_file()
    except (OSError, ValueError):  # no permission, a name the OS cannot take
        return False
