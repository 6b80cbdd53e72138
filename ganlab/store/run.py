"""A run directory: the one object that knows every path in it (pages never build paths).

runs/<00042-ring8-mlp-bce>/
  config.json     the whole RunConfig, written before step 0
  status.json     state, step, error; replaced atomically
  stats.jsonl     one JSON line per tick, flushed
  samples.h5      fixed-z snapshots over time (written only by the trainer)
  checkpoints/    ckpt-<step>.pt, atomic, the newest N kept
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
from .files import append_jsonl, atomic_write_bytes, atomic_write_json, read_jsonl
from .owner import OWNER, owner_alive
from .samples import append_samples, read_samples

STATES = ("created", "running", "paused", "finished", "stopped", "failed", "interrupted")
LIVE_STATES = ("created", "running", "paused")


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
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, runs_dir: str | os.PathLike, cfg: RunConfig) -> Run:
        """Allocate `<n:05d>-<dataset>-<arch>-<loss>` (mkdir is the lock) and write config.json."""
        root = Path(runs_dir)
        root.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9_.]+", "_", Path(cfg.dataset.split(":", 1)[-1]).stem)[:40]
        for _ in range(1000):
            n = 1 + max((int(p.name[:5]) for p in root.iterdir() if p.name[:5].isdigit()), default=-1)
            path = root / f"{n:05d}-{slug}-{cfg.arch}-{cfg.loss}"
            try:
                path.mkdir()
            except FileExistsError:
                continue  # another process took this number first
            run = cls(path)
            atomic_write_bytes(run.config_path, cfg.to_json().encode())
            run.checkpoints_dir.mkdir()
            run.write_status("created", 0)
            return run
        raise RunError(f"could not allocate a run directory in {root}")

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
        try:
            return RunConfig.from_json(self.config_path.read_text())
        except (OSError, ConfigError) as e:
            raise RunError(f"{self.config_path}: {e}") from None

    def delete(self) -> None:
        shutil.rmtree(self.path)

    # --------------------------------------------------------------- status
    def write_status(self, state: str, step: int, **extra: Any) -> None:
        assert state in STATES, state
        atomic_write_json(self.status_path, {"state": state, "step": int(step), "time": time.time(),
                                             "owner": OWNER, **extra})

    def status(self) -> dict[str, Any]:
        """The status, with 'running' from a dead process reported as 'interrupted'."""
        try:
            st = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            st = None
        if not isinstance(st, dict) or st.get("state") not in STATES:
            return {"state": "interrupted", "step": self.last_checkpoint_step() or 0,
                    "error": "status.json is missing or unreadable; resume continues from the last checkpoint"}
        if st.get("state") in LIVE_STATES and not owner_alive(st.get("owner", "")):
            st = {**st, "state": "interrupted"}
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

    # ---------------------------------------------------------- checkpoints
    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"ckpt-{step:09d}.pt"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (temp files from a kill mid-write are ignored)."""
        if not self.checkpoints_dir.is_dir():
            return []
        return sorted(p for p in self.checkpoints_dir.glob("ckpt-*.pt"))

    def last_checkpoint_step(self) -> Optional[int]:
        c = self.checkpoints()
        return int(c[-1].stem.split("-")[1]) if c else None

    def save_checkpoint(self, state: dict[str, Any], step: int, keep: int) -> Path:
        """Write atomically, keep the newest `keep`; NaN/inf weights are refused (NonFiniteWeights)."""
        data = encode_checkpoint(state, step)  # raises NonFiniteWeights before anything is written
        for stale in self.checkpoints_dir.glob(".ckpt-*.tmp"):  # a kill mid-write left it; never loaded
            if f".{os.getpid()}." not in stale.name:
                stale.unlink(missing_ok=True)
        path = self.checkpoint_path(step)
        atomic_write_bytes(path, data)
        for old in self.checkpoints()[:-keep]:
            old.unlink(missing_ok=True)
        return path

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
    """Every run directory under runs_dir, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return sorted((Run(p) for p in root.iterdir() if (p / "config.json").is_file()), key=lambda r: r.id, reverse=True)
