"""Are a dataset's files on this machine? Answered from file names alone, before anything is loaded.

A config can validate (its spec is known without files) while the files it needs are missing: a
resume of such a run would fail a second after it started. Pages ask here first and say why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..paths import data_root
from .images import _CIFAR_FILES, _MNIST_FILES

# dataset -> (folder under the data root, the files its loader reads, whether .gz copies count)
NEEDED_FILES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "mnist": ("MNIST/raw", _MNIST_FILES, True),
    "fashion-mnist": ("FashionMNIST/raw", _MNIST_FILES, True),
    "cifar10": ("cifar-10-batches-py", _CIFAR_FILES, False),
}


def missing_data(name: str, root=None) -> Optional[str]:
    """A sentence naming the files a dataset needs and where to put them, or None when they are there.

    Datasets without files (the mixtures, digits) always answer None; packed `hdf5:` files are checked
    by validate_config, which reads their spec.
    """
    if name not in NEEDED_FILES:
        return None
    folder_name, files, gz_ok = NEEDED_FILES[name]
    folder = Path(data_root(root)) / folder_name
    missing = [f for f in files if not (folder / f).is_file() and not (gz_ok and (folder / f"{f}.gz").is_file())]
    if not missing:
        return None
    return (f"{name} is not in {folder}: put {', '.join(missing)} there" + (" (.gz files are fine)" if gz_ok else "")
            + ", or allow a download (--download on the command line)")
