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
import socket
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from .config import ConfigError, RunConfig

STATES = ("created", "running", "paused", "finished", "stopped", "failed", "interrupted")
LIVE_STATES = ("created", "running", "paused")


class RunError(ValueError):
    """A run directory is missing or unreadable; the message says which file."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: readers see old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2).encode())


def _process_start() -> str:
    """This process's start time in clock ticks since boot: tells a live pid from a reused one."""
    try:
        return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return ""


OWNER = f"{socket.gethostname()}:{os.getpid()}:{_process_start()}"


def owner_alive(owner: str) -> bool:
    """Is the process that wrote this status still running (on this host)?"""
    try:
        host, pid, start = owner.rsplit(":", 2)
        pid_i = int(pid)
    except ValueError:
        return False
    if owner == OWNER:
        return True
    if host != socket.gethostname():
        return True  # another machine's run: we cannot tell, so we do not call it dead
    try:
        stat = Path(f"/proc/{pid_i}/stat").read_text()
    except OSError:
        return False
    return not start or stat.rsplit(")", 1)[1].split()[19] == start


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
    def create(cls, runs_dir: str | os.PathLike, cfg: RunConfig) -> "Run":
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
    def open(cls, path: str | os.PathLike) -> "Run":
        run = cls(path)
        if not run.config_path.is_file():
            raise RunError(f"{path} is not a ganlab run (no config.json)")
        return run

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
            return {"state": "interrupted", "step": self.last_checkpoint_step() or 0,
                    "error": "status.json is missing or unreadable"}
        if st.get("state") in LIVE_STATES and not owner_alive(st.get("owner", "")):
            st = {**st, "state": "interrupted"}
        return st

    # ---------------------------------------------------------------- stats
    def append_stats(self, record: dict[str, Any]) -> None:
        self._append_jsonl(self.stats_path, record)

    def append_metrics(self, record: dict[str, Any]) -> None:
        self._append_jsonl(self.metrics_path, record)

    @staticmethod
    def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
        with open(path, "a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")
            f.flush()

    def history(self, after_step: Optional[int] = None) -> list[dict[str, Any]]:
        """Tick records; a torn last line (a kill mid-write) is skipped, not an error."""
        return list(self._read_jsonl(self.stats_path, after_step))

    def metrics_history(self) -> list[dict[str, Any]]:
        return list(self._read_jsonl(self.metrics_path, None))

    @staticmethod
    def _read_jsonl(path: Path, after_step: Optional[int]) -> Iterator[dict[str, Any]]:
        try:
            f = open(path)
        except OSError:
            return
        with f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if after_step is None or rec.get("step", 0) > after_step:
                    yield rec

    def truncate_history(self, step: int) -> None:
        """Drop records past `step` (a resume from an earlier checkpoint replays them)."""
        for path in (self.stats_path, self.metrics_path):
            if path.exists():
                keep = [r for r in self._read_jsonl(path, None) if r.get("step", 0) <= step]
                atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())

    # -------------------------------------------------------------- samples
    def append_samples(self, step: int, samples: np.ndarray) -> None:
        """Append one fixed-z snapshot; images as uint8, points as float32."""
        import h5py

        with h5py.File(self.samples_path, "a") as f:
            if "samples" not in f:
                f.create_dataset("samples", shape=(0, *samples.shape), maxshape=(None, *samples.shape),
                                 dtype=samples.dtype, chunks=(1, *samples.shape))
                f.create_dataset("steps", shape=(0,), maxshape=(None,), dtype="i8")
            ds, st = f["samples"], f["steps"]
            keep = int(np.searchsorted(st[:], step))  # a resume rewrites snapshots past its step
            ds.resize(keep + 1, axis=0)
            st.resize(keep + 1, axis=0)
            ds[keep], st[keep] = samples, step

    def read_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps (T,), samples (T, N, ...)); empty arrays when there are none or the file is torn."""
        import h5py

        try:
            with h5py.File(self.samples_path, "r") as f:
                n = min(len(f["steps"]), len(f["samples"]))
                return f["steps"][:n], f["samples"][:n]
        except (OSError, KeyError, ValueError):
            return np.zeros((0,), np.int64), np.zeros((0,), np.float32)

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
        import io

        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        path = self.checkpoint_path(step)
        atomic_write_bytes(path, buf.getvalue())
        for old in self.checkpoints()[:-keep]:
            old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path: Optional[Path] = None, map_location="cpu") -> dict[str, Any]:
        """Newest readable checkpoint, loaded without executing code (weights_only=True)."""
        from .checkpoint import load_checkpoint_file

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
