"""samples.h5: the fixed-z snapshots of a run over time (the time-lapse), appended by the trainer alone."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

from ..errors import is_disk_full
from . import room
from .files import file_lock

FREE_RESERVE = 2**20  # bytes a snapshot leaves free on the disk for stats and checkpoints (ganlab.store.room)
# HDF5's metadata beyond a snapshot's bytes: ~15 kB for a new file, then a chunk per snapshot (uncompressed, so
# exactly its bytes) and now and then a B-tree node; a sweep of file-size limits (tests/test_samples_store.py)
# found no crash with these. Smaller than game.h5's: a ring8 run under a 30 kB limit keeps its snapshots.
SLACK_NEW, SLACK_GROW = 16 * 1024, 8 * 1024


# samples.h5 is appended in place (about 1.5 ms per snapshot, flat), not rewritten and replaced:
# a copy + fsync + os.replace costs O(file) per snapshot (57 ms at 100 snapshots of 64 RGB 32x32,
# quadratic over a run). HDF5 writes the data before the metadata that points at it, so a kill
# mid-append left the file readable in 90 of 90 SIGKILL trials; should a kill ever damage it, the
# readers here return no snapshots instead of raising, and the next append moves the damaged file
# aside (samples.h5.damaged) and starts a new one. Only the time-lapse is at stake, never the run.
def append_samples(path: Path, step: int, samples: np.ndarray) -> None:
    """Append one fixed-z snapshot; images as uint8, points as float32. Never fails the run."""
    slack = SLACK_GROW if path.exists() else SLACK_NEW
    if not room.has_room(path, samples.nbytes, FREE_RESERVE, slack):  # HDF5 would crash on the refused write
        warnings.warn(f"{path}: the snapshot of step {step} was skipped (no room for it under the disk's free "
                      f"space or the process's file-size limit)", stacklevel=2)
        return
    for attempt in range(40):
        try:
            with file_lock(path):
                _append(path, step, samples)
            return
        except BlockingIOError:  # another process (an h5 viewer) holds a lock on it: wait a little
            time.sleep(0.05)
        except (OSError, KeyError, ValueError, TypeError) as e:
            if attempt > 0 or not path.exists() or is_disk_full(e) or (isinstance(e, OSError) and _readable(path)):
                break  # a full disk (or a file-size limit) fails the append, not the file: keep every snapshot
            # damaged (a kill mid-write) or not ours: keep it for inspection, start afresh
            os.replace(path, path.with_name("samples.h5.damaged"))
            warnings.warn(f"{path} could not be appended to ({e}); moved to samples.h5.damaged", stacklevel=2)
    warnings.warn(f"{path}: the snapshot of step {step} was skipped (the file stayed locked or damaged)",
                  stacklevel=2)

def _readable(path: Path) -> bool:
    """Does the file still open as our snapshots (so the failed append was not its damage)?"""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return "samples" in f and "steps" in f
    except Exception:  # noqa: BLE001 - any failure to read is damage
        return False


def _append(path: Path, step: int, samples: np.ndarray) -> None:
    with h5py.File(path, "a") as f:
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

def read_samples(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps (T,), samples (T, N, ...)); empty arrays when there are none or the file is damaged.

    The reader takes no HDF5 file lock, so a page reading a CLI run's snapshots can never make
    that trainer's append fail; a read that meets a half-written append is retried once.
    """
    for attempt in range(3):
        try:
            with file_lock(path), h5py.File(path, "r", locking=False) as f:
                n = min(len(f["steps"]), len(f["samples"]))
                return f["steps"][:n], f["samples"][:n]
        except FileNotFoundError:
            break
        except (OSError, KeyError, ValueError, TypeError, RuntimeError):
            time.sleep(0.02 * (attempt + 1))
    return np.zeros((0,), np.int64), np.zeros((0,), np.float32)
