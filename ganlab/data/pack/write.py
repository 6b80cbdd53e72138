"""Write a packed file (the layout is in the package docstring), atomically: OUT.tmp, then rename.

Also `pack_arrays`, which writes an in-memory dataset in the same layout without decoding.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from ..base import DataError
from .options import PackReport

FORMAT_VERSION = 1
MAX_SKIPPED_STORED = 1000  # skipped-file entries kept in the file's attributes


def chunk_rows(image_bytes: int) -> int:
    """Images per HDF5 chunk: one when an image is >= 2 KiB (32x32 RGB), up to 16 tiny ones."""
    return max(1, min(16, 4096 // max(1, image_bytes)))


class _Writer:
    """Appends images to `OUT.tmp`; `finish` writes labels and attributes, then renames."""

    def __init__(self, out_path, shape: tuple[int, int, int]):
        self.out = Path(out_path)
        self.tmp = Path(str(out_path) + ".tmp")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.f = h5py.File(self.tmp, "w")
        rows = chunk_rows(int(np.prod(shape)))
        self.ds = self.f.create_dataset("images", shape=(0, *shape), maxshape=(None, *shape),
                                        dtype=np.uint8, chunks=(rows, *shape))
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        self.ds.resize(self.n + len(block), axis=0)
        self.ds[self.n:] = block
        self.n += len(block)

    def finish(self, labels, filenames, attrs: dict) -> None:
        if labels is not None:
            self.f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
        self.f.create_dataset("filenames", data=[_text(n) for n in filenames], dtype=h5py.string_dtype())
        self.f.attrs.update({"ganlab_format": FORMAT_VERSION, **attrs,
                             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        self.f.close()
        os.replace(self.tmp, self.out)  # atomic: readers see the old file or the whole new one

    def abort(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)


@contextmanager
def _writing(out_path, shape) -> Iterator[_Writer]:
    """A `_Writer` whose OUT.tmp is removed if anything fails before `finish`."""
    w = _Writer(out_path, shape)
    try:
        yield w
    except BaseException:
        w.abort()
        raise


def _text(s) -> str:
    """A file name as valid UTF-8 (Linux names may hold any bytes; HDF5 strings may not)."""
    return str(s).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _attrs(src, options: dict, class_names, skipped) -> dict:
    """The file's attributes but `ganlab_format` and `created`, which `finish` adds."""
    return {"class_names": json.dumps([_text(c) for c in class_names]), "size": options["size"],
            "channels": options["channels"], "crop": options["crop"], "source": _text(src),
            "options": json.dumps(options),
            "n_skipped": len(skipped),
            "skipped": json.dumps([(_text(n), r) for n, r in skipped[:MAX_SKIPPED_STORED]])}


def pack_arrays(images, labels, class_names, out_path, source: str, *,
                shuffle: bool = False) -> PackReport:
    """Pack an in-memory dataset (digits, MNIST, ...) into the same format as `pack`.

    images: uint8 (N, C, S, S) with C 1 or 3 (numpy or a CPU tensor); labels: (N,) ints in
    [0, len(class_names)) or None. `shuffle` stores them in a fixed (seed 0) random order.
    """
    t0 = time.perf_counter()
    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[2] != x.shape[3] \
            or not len(x):
        raise DataError(f"images must be uint8 (N, C, S, S) with C 1 or 3 and N > 0; "
                        f"got {x.dtype} {x.shape}")
    class_names = [str(c) for c in (class_names or [])]
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    if y is not None and (y.shape != (len(x),) or not class_names or y.min() < 0
                          or y.max() >= len(class_names)):
        raise DataError(f"labels must be {len(x)} ints in [0, {len(class_names)}) (one per image, "
                        "with class_names)")
    order = np.random.default_rng(0).permutation(len(x)) if shuffle else np.arange(len(x))
    options = {"size": x.shape[2], "channels": x.shape[1], "crop": "none",
               "labels": "none" if y is None else "given", "shuffle": shuffle}
    with _writing(out_path, x.shape[1:]) as w:
        for a in range(0, len(x), 4096):
            w.append(x[order[a:a + 4096]])
        w.finish(None if y is None else y[order], [f"{source}[{i}]" for i in order],
                 _attrs(source, options, class_names if y is not None else [], []))
    seconds = time.perf_counter() - t0
    return PackReport(str(out_path), len(x), 0, [], tuple(class_names) if y is not None else (),
                      seconds, len(x) / seconds if seconds > 0 else 0.0)
