"""Points files on the pages: a whole-file check and an overview, each redone only when the file changes.

The config's validation reads only a file's header (cheap on every rerun); the Train page also
wants every row checked before Start, so a bad value is a message there, not a failed run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import streamlit as st

from ..data import DataError, is_points, points_path
from ..data.overview import DatasetOverview, dataset_overview
from ..data.points import read_points


def _stamp(path: Path) -> tuple[int, int]:
    s = os.stat(path)
    return s.st_mtime_ns, s.st_size


def points_problem(name: str, root) -> Optional[str]:
    """None when every row of a `points:` file reads; else the DataError's sentence."""
    if not is_points(name):
        return None
    try:
        path = points_path(name, root)
        stamp = _stamp(path)
    except DataError as e:
        return str(e)
    except OSError as e:
        return f"{name[len('points:'):]} cannot be read ({e.strerror or e}) — check the path"
    return _problem(str(path), stamp)


@st.cache_data(max_entries=32, show_spinner="Checking the points file…")
def _problem(path: str, stamp: tuple[int, int]) -> Optional[str]:
    try:
        read_points(path)
    except DataError as e:
        return str(e)
    return None


def points_overview(name: str, root) -> DatasetOverview:
    """The Data page's overview of a points file (DataError when it cannot be read)."""
    path = points_path(name, root)
    try:
        stamp = _stamp(path)
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror or e}) — check the path") from None
    return _overview(name, str(root), stamp)


@st.cache_resource(max_entries=8, show_spinner="Loading the points…")
def _overview(name: str, root: str, stamp: tuple[int, int]) -> DatasetOverview:
    return dataset_overview(name, root=root, n=2000)
