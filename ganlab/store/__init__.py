"""The run store: one directory per run (run.py), its snapshots (samples.py), game frames (game.py) and checkpoints
(checkpoint.py).

The run directory is the contract between the engine and every page; `Run` is the one object
that knows its paths. Files are replaced atomically or appended (files.py) and read tolerantly:
a damaged status.json reads as interrupted (status.py), a damaged config.json is a RunError.
One session at a time trains a run (lock.py).
"""

from ..errors import NonFiniteWeights, RunError
from .game import GameFrames
from .lock import TrainingLock
from .owner import OWNER, owner_alive, trained_elsewhere
from .run import Run, list_runs, run_name
from .status import LIVE_STATES, STATES

__all__ = ["GameFrames", "LIVE_STATES", "NonFiniteWeights", "OWNER", "Run", "RunError", "STATES", "TrainingLock", "list_runs",
           "owner_alive", "run_name", "trained_elsewhere"]
