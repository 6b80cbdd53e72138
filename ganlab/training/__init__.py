"""Training: the trainer (d_step, g_step), the loop (`train`), step stats, threads and the guarded fast paths.

Nothing here knows a run directory, a metric or a page exists: `train()` writes through the run
object it is handed and scores G through the `evaluate` function it is handed.
"""

from ..errors import Diverged
from .loop import train
from .threads import default_threads, resolve_device
from .trainer import Trainer

__all__ = ["Diverged", "Trainer", "default_threads", "resolve_device", "train"]
