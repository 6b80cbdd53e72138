"""The run store: one directory per run (run.py), its snapshots (samples.py) and checkpoints (checkpoint.py).

The run directory is the contract between the engine and every page; `Run` is the one object
that knows its paths. Files are replaced atomically or appended (files.py).
"""

from ..errors import NonFiniteWeights, RunError
from .owner import OWNER, owner_alive
from .run import LIVE_STATES, STATES, Run, list_runs

__all__ = ["LIVE_STATES", "NonFiniteWeights", "OWNER", "Run", "RunError", "STATES", "list_runs", "owner_alive"]
