"""One trainer per run: an exclusive flock on <run>/train.lock, held for the life of a training session.

status.json says who trains a run, but reading it and writing "running" are seconds apart, so
two resumes started together both read "stopped" and both train: each deletes the other's
checkpoint temp file and stats.jsonl gets every step twice. flock closes that gap: taking it is
atomic, two open file descriptions conflict even in one process (two sessions, two tabs), and
the kernel drops it when its holder dies, so a killed trainer never leaves a stale lock behind.
The file stays in place after release (deleting a lock file races with the next taker).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Optional

from ..errors import RunError
from .owner import OWNER

LOCK_NAME = "train.lock"


class TrainingLock:
    """Held from acquire() until release() (or until this object, or its process, is gone)."""

    def __init__(self, fd: int, path: Path):
        self._fd: Optional[int] = fd
        self.path = path

    @classmethod
    def acquire(cls, run_dir: Path) -> TrainingLock:
        """Take the run's lock now, or raise a RunError naming who holds it; never waits."""
        path = Path(run_dir) / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise RunError(f"{Path(run_dir).name} cannot be trained here: its lock file cannot be opened "
                           f"({e.strerror}); check that {run_dir} is writable") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            who = "a session in this process" if holder == OWNER else (holder or "its owner is not recorded")
            raise RunError(f"{Path(run_dir).name} is still running: it is being trained by another process or "
                           f"session ({who}); stop it there before resuming it here") from None
        except OSError as e:  # a filesystem without locks (ENOLCK)
            os.close(fd)
            raise RunError(f"{Path(run_dir).name} cannot be locked for training ({e.strerror}); "
                           f"keep runs on a local disk") from None
        try:  # who holds it, for the message another taker reads; a full disk only loses the name
            os.ftruncate(fd, 0)
            os.pwrite(fd, OWNER.encode(), 0)
        except OSError:
            pass
        return cls(fd, path)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Closing the descriptor drops the flock; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:  # an abandoned session (a resume that was refused later) frees the run
        self.release()


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
