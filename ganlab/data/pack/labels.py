"""Class labels from folder names (`--labels from-folders`)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Optional

from ..base import DataError


def classes_from_folders(names: list[str], labels: str) -> tuple[list[str], Optional[list[int]]]:
    """(class names, label per name) for `--labels from-folders`; ([], None) without labels.

    Class = first folder under SRC. One folder that wraps every class folder (as zip tools
    make: `data/cats/1.jpg`) is not a class. Images directly in SRC are an error: they
    have no class, and guessing one would silently teach the model a wrong label.
    """
    if labels == "none":
        return [], None
    parts = [PurePosixPath(n).parts for n in names]
    if len({p[0] for p in parts}) == 1 and all(len(p) >= 3 for p in parts):
        parts = [p[1:] for p in parts]
    loose = [n for n, p in zip(names, parts) if len(p) < 2]
    if loose:
        raise DataError(f"--labels from-folders: {len(loose)} images are not inside a class "
                        f"folder (e.g. {loose[0]!r}); move them into a sub-folder of SRC, "
                        "or pack without labels")
    class_names = sorted({p[0] for p in parts})
    index = {c: i for i, c in enumerate(class_names)}
    return class_names, [index[p[0]] for p in parts]
