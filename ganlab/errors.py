"""Every error a person sees: each carries one sentence that says what to change.

The CLI turns these into one line and exit code 2 (or 1 for a run that diverged), the pages
into a message; anything else reaching either is a bug. They live in one module, below every
other, so any layer can raise them and every caller can catch them without importing the
layer that raised.
"""

from __future__ import annotations

import errno

# no space left, a file-size limit (`ulimit -f`), a quota: each means "the disk is full" to the person
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def is_disk_full(e: BaseException) -> bool:
    """A write that failed because the disk (or this process's share of it) is full.

    h5py's OSError often carries no errno, only HDF5's text with the system's message in it.
    """
    return getattr(e, "errno", None) in DISK_FULL_ERRNOS or any(
        m in str(e) for m in ("No space left", "File too large", "quota exceeded"))


class GanlabError(Exception):
    """Base of the errors ganlab reports to a person (never a traceback)."""


class UsageError(GanlabError):
    """Anything typed on the command line that cannot be acted on."""


class ConfigError(GanlabError, ValueError):
    """A config a person must fix; the message names the field and what is allowed."""


class DataError(GanlabError, ValueError):
    """A dataset cannot be loaded; the message says what to put where."""


class RunError(GanlabError, ValueError):
    """A run directory is missing or unreadable, or cannot do what was asked; the message says which."""


class SamplingError(GanlabError, ValueError):
    """The sampler cannot be used for this run."""


class Diverged(GanlabError, RuntimeError):
    """A loss or weight became NaN/inf; carries the step and the network for the message."""

    def __init__(self, step: int, network: str, detail: str):
        super().__init__(f"training diverged at step {step}: {network} {detail}; the last good checkpoint is kept — "
                         f"resume with a lower learning rate")
        self.step, self.network = step, network


class NonFiniteWeights(Diverged, RunError):
    """A checkpoint would hold NaN/inf weights: it is refused, so the last good one stays the newest."""

    def __init__(self, network: str, step: int):
        GanlabError.__init__(self, f"training diverged by step {step}: {network} weights became NaN or infinite; "
                                   f"no checkpoint was written, the last good checkpoint is kept — "
                                   f"resume with a lower learning rate")
        self.network, self.step = network, step

