"""Where runs and datasets live: ./runs and ~/.cache/ganlab unless the environment says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def runs_dir(override: str | os.PathLike | None = None) -> Path:
    """The run store: an explicit path, else $GANLAB_RUNS, else ./runs."""
    return Path(override or os.environ.get("GANLAB_RUNS") or "runs")


def data_root(override: str | os.PathLike | None = None) -> Path:
    """Dataset files: an explicit path, else $GANLAB_DATA, else ~/.cache/ganlab/data."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("GANLAB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganlab" / "data"


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """Derived artefacts (metric classifiers), kept beside the data they were trained on."""
    return data_root(root) / "cache"
