"""Will an HDF5 append fit? Asked before writing, because HDF5 does not survive a write the disk refuses.

h5py raises, then the process dies (SIGSEGV) when the file is closed (measured under a file-size limit, for
samples.h5 and game.h5 alike). So the run's HDF5 files write only what fits with room to spare: below the
process's file-size limit, and leaving `reserve` bytes free on the disk for the files a run needs (stats,
checkpoints), which then meet the full disk and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no file-size limits to read
    resource = None

SLACK = 64 * 1024  # HDF5's own metadata for a new file or a grown chunk index, above the data's bytes (generous)


def free_bytes(folder: Path) -> float:
    try:
        st = os.statvfs(folder)
    except (AttributeError, OSError):  # no statvfs (Windows), or the folder is gone: the write will say
        return float("inf")
    return st.f_bavail * st.f_frsize


def has_room(path: Path, nbytes: int, reserve: int, slack: int = SLACK) -> bool:
    """Would appending nbytes (plus `slack` of HDF5 metadata) to path stay under the file-size limit and leave
    `reserve` bytes free?"""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if resource is not None:
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY and size + nbytes + slack > soft:
            return False
    return free_bytes(path.parent) >= nbytes + slack + reserve
