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
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from .config import ConfigError, RunConfig

STATES = ("created", "running", "paused", "finished", "stopped", "failed", "interrupted")
LIVE_STATES = ("created", "running", "paused")


class RunError(ValueError):
    """A run directory is missing or unreadable; the message says which file."""


class NonFiniteWeights(RunError):
    """A checkpoint would hold NaN/inf weights: it is refused, so the last good one stays the newest."""

    def __init__(self, network: str, step: int):
        super().__init__(f"training diverged by step {step}: {network} weights became NaN or infinite; "
                         f"no checkpoint was written, the last good checkpoint is kept — resume with a lower learning rate")
        self.network, self.step = network, step


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: readers see old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, say: the old file stays, no half-written temp file is left
        tmp.unlink(missing_ok=True)
        raise


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
            st = None
        if not isinstance(st, dict) or st.get("state") not in STATES:
            return {"state": "interrupted", "step": self.last_checkpoint_step() or 0,
                    "error": "status.json is missing or unreadable; resume continues from the last checkpoint"}
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
        line = (json.dumps(record, allow_nan=True) + "\n").encode()
        with open(path, "ab+") as f:
            if f.tell() > 0:  # a kill mid-line left no newline: start on a fresh line, keep this record whole
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
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
                    continue  # a torn line (a kill mid-write) or garbage: skipped, never fatal
                if not isinstance(rec, dict) or not isinstance(rec.get("step", 0), int):
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
    # samples.h5 is appended in place (about 1.5 ms per snapshot, flat), not rewritten and replaced:
    # a copy + fsync + os.replace costs O(file) per snapshot (57 ms at 100 snapshots of 64 RGB 32x32,
    # quadratic over a run). HDF5 writes the data before the metadata that points at it, so a kill
    # mid-append left the file readable in 90 of 90 SIGKILL trials; should a kill ever damage it, the
    # readers below return no snapshots instead of raising, and the next append moves the damaged file
    # aside (samples.h5.damaged) and starts a new one. Only the time-lapse is at stake, never the run.
    def append_samples(self, step: int, samples: np.ndarray) -> None:
        """Append one fixed-z snapshot; images as uint8, points as float32. Never fails the run."""
        for attempt in range(40):
            try:
                with _file_lock(self.samples_path):
                    self._append_samples(step, samples)
                return
            except BlockingIOError:  # another process (an h5 viewer) holds a lock on it: wait a little
                time.sleep(0.05)
            except (OSError, KeyError, ValueError, TypeError) as e:
                if attempt > 0 or not self.samples_path.exists():
                    break
                # damaged (a kill mid-write) or not ours: keep it for inspection, start afresh
                os.replace(self.samples_path, self.samples_path.with_name("samples.h5.damaged"))
                warnings.warn(f"{self.samples_path} could not be appended to ({e}); moved to samples.h5.damaged")
        warnings.warn(f"{self.samples_path}: the snapshot of step {step} was skipped (the file stayed locked or damaged)")

    def _append_samples(self, step: int, samples: np.ndarray) -> None:
        import h5py

        with h5py.File(self.samples_path, "a") as f:
            if "samples" not in f:
                f.create_dataset("samples", shape=(0, *samples.shape), maxshape=(None, *samples.shape),
                                 dtype=samples.dtype, chunks=(1, *samples.shape))
                f.create_dataset("steps", shape=(0,), maxshape=(None,), dtype="i8")
            ds, st = f["samples"], f["steps"]
            if ds.shape[1:] != samples.shape:
                raise ValueError(f"snapshots of shape {ds.shape[1:]} cannot take one of shape {samples.shape}")
            n = min(len(st), len(ds))
            keep = int(np.searchsorted(st[:n], step))  # a resume rewrites snapshots past its step
            ds.resize(keep + 1, axis=0)
            st.resize(keep + 1, axis=0)
            ds[keep], st[keep] = samples, step

    def read_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps (T,), samples (T, N, ...)); empty arrays when there are none or the file is damaged.

        The reader takes no HDF5 file lock, so a page reading a CLI run's snapshots can never make
        that trainer's append fail; a read that meets a half-written append is retried once.
        """
        import h5py

        for attempt in range(3):
            try:
                with _file_lock(self.samples_path), h5py.File(self.samples_path, "r", locking=False) as f:
                    n = min(len(f["steps"]), len(f["samples"]))
                    return f["steps"][:n], f["samples"][:n]
            except FileNotFoundError:
                break
            except (OSError, KeyError, ValueError, TypeError, RuntimeError):
                time.sleep(0.02 * (attempt + 1))
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
        """Write atomically, keep the newest `keep`; NaN/inf weights are refused (NonFiniteWeights)."""
        import io

        import torch

        for net in ("G", "D", "G_ema"):
            weights = state.get(net) or {}
            if not all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()):
                raise NonFiniteWeights(net, step)
        for stale in self.checkpoints_dir.glob(".ckpt-*.tmp"):  # a kill mid-write left it; never loaded
            if f".{os.getpid()}." not in stale.name:
                stale.unlink(missing_ok=True)
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


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.Lock:
    """One lock per file in this process: HDF5 refuses a second open of a file this process has open."""
    key = os.path.abspath(path)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def list_runs(runs_dir: str | os.PathLike) -> list[Run]:
    """Every run directory under runs_dir, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return sorted((Run(p) for p in root.iterdir() if (p / "config.json").is_file()), key=lambda r: r.id, reverse=True)
