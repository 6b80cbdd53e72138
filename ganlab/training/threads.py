"""Where a run computes: its device, and how many CPU threads it uses (a fact per kind of caller)."""

from __future__ import annotations

import os
import threading
from typing import Optional

import torch


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def default_threads() -> int:
    """CPU threads for a run built in this thread: $GANLAB_THREADS; else every CPU this process may use
    for a run built in the main thread (the CLI, a script, a notebook, a benchmark), and half of them,
    at least 1, for a run built in a background thread (the dashboard's JobManager).

    Measured on the 2-core box (bench/RESULTS.md): alone, two threads train the MLP GAN ~1.25x and
    the DCGANs ~2x faster than one; beside a busy process (the dashboard's server and browser, a
    second run) every OpenMP parallel region waits for a descheduled thread, and a step took up to
    10x longer than with one thread. Tiny models never use a second thread. The count is fixed per
    machine and per kind of caller, so the same config and seed give the same losses.
    """
    env = os.environ.get("GANLAB_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return n if threading.current_thread() is threading.main_thread() else max(1, n // 2)


def resume_threads(recorded: int) -> int:
    """The thread count a resumed run computes with: the one it was trained with (its checkpoint says),
    whoever resumes it, so a run started in the dashboard (half the CPUs) and resumed with the CLI (all of
    them) stays bit-exact; capped at this machine's CPUs, where more threads only wait for each other."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(int(recorded), n))


class Threads:
    """Run a block with `n` intra-op threads in the calling thread only (torch's setting is per thread).

    A fresh one per block (it holds the previous count), so it is safe from any thread.
    """

    def __init__(self, n: Optional[int]):
        self.n, self.prev = n, None

    def __enter__(self) -> None:
        if self.n is not None and torch.get_num_threads() != self.n:
            self.prev = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        if self.prev is not None:
            torch.set_num_threads(self.prev)
            self.prev = None
