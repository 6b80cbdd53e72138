"""The old import path of the trainer (`import ganlab.train`), kept so existing notebooks and checks still work.

New code imports `ganlab.training`; this module only re-exports its names.
"""

from .training import Diverged, Trainer, default_threads, resolve_device, train

__all__ = ["Diverged", "Trainer", "default_threads", "resolve_device", "train"]
