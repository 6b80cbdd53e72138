"""Who writes a run's status: a host:pid:start-time stamp, so a dead writer reads as interrupted."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from .status import LIVE_STATES


def _process_start() -> str:
    """This process's start time in clock ticks since boot: tells a live pid from a reused one."""
    try:
        return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return ""


OWNER = f"{socket.gethostname()}:{os.getpid()}:{_process_start()}"


def trained_elsewhere(status: dict) -> bool:
    """Does a status (as Run.status() reads it: a dead owner is already 'interrupted') say another process trains the run?"""
    return status.get("state") in LIVE_STATES and status.get("owner") != OWNER


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
