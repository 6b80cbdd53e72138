"""Write a packed file (the layout is in the package docstring), atomically: a temp file, then rename.

Also `pack_arrays`, which writes an in-memory dataset in the same layout without decoding.

What can go wrong on the way out, and what happens then:
- OUT is the source, or inside a folder being packed, or exists already (without
  `overwrite=True`): refused before anything is read (`check_destination`);
- not enough free space for the estimate (`estimate_bytes`): refused before writing;
- the disk fills up anyway (or the file-size limit, or the quota, is reached) while writing:
  DataError saying so, the temp file removed, OUT as it was, the process alive. libhdf5
  never sees a failed write (`_TempFile`): when it does, h5py raises from the middle of a
  flush, and closing or freeing the half-flushed objects then crashed the process (in the
  dashboard: the server, and every run training in it);
- success: the temp file (`.OUT.<pid>.<random>.tmp`, beside OUT, created exclusively, so a
  file of that name is never clobbered and two packs never share one) is fsynced and then
  renamed onto OUT with os.replace: readers see the old file or the whole new one.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import h5py
import numpy as np

from ..base import DataError
from .options import PackReport

FORMAT_VERSION = 1
MAX_SKIPPED_STORED = 1000  # skipped-file entries kept in the file's attributes


def chunk_rows(image_bytes: int) -> int:
    """Images per HDF5 chunk: one when an image is >= 2 KiB (32x32 RGB), up to 16 tiny ones."""
    return max(1, min(16, 4096 // max(1, image_bytes)))


def check_destination(out_path, overwrite: bool, src=None) -> None:
    """Refuse an OUT whose writing would destroy data: the source itself, a file inside a
    folder being packed, a folder, or any existing file unless `overwrite` is True."""
    out = Path(out_path)
    if src is not None:
        source = Path(src)
        if out.exists() and source.exists() and os.path.samefile(source, out):
            raise DataError(f"{out} is the source being packed; choose another output file")
        if source.is_dir():
            root, target = source.resolve(), out.resolve()
            if os.path.commonpath([root, target]) == str(root):
                raise DataError(f"{out} is inside the folder being packed ({source}); write it outside that folder")
    if out.is_dir():
        raise DataError(f"{out} is a folder; give the output as a file path such as {out / 'images.h5'}")
    if not overwrite and (out.exists() or out.is_symlink()):
        raise DataError(f"{out} already exists; choose another name, or replace it on purpose "
                        "(--overwrite, or overwrite=True)")


def estimate_bytes(rows: int, shape: tuple[int, ...], text_bytes: int = 0) -> int:
    """About how large a packed file of `rows` images gets: the pixels (stored uncompressed),
    ~100 bytes an image for the chunk index, labels and name references, `text_bytes` for the
    names and attributes, and 64 KiB for the rest of the metadata."""
    return rows * (int(np.prod(shape)) + 100) + text_bytes + 2**16


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


FULL_DISK = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is full",
             errno.EFBIG: "the disk is full for this process (its file-size limit, ulimit -f, was reached)"}


class _TempFile:
    """The temp file as the file object h5py writes through; a failed write is kept, not raised.

    The first OSError of a write, a truncate or the final fsync is remembered and every
    later write is dropped, so libhdf5 always sees success and stays consistent; the writer
    checks `error` after each step and raises DataError from its own code. The file's size
    as libhdf5 sees it counts dropped writes too, and reading what was dropped gives zeros
    (h5py ignores a short read, which would leave garbage in its buffer).
    """

    def __init__(self, fd: int):
        self.fd, self.pos = fd, 0
        self.size = 0  # as libhdf5 sees it
        self.end = 0  # bytes surely on disk: the high-water mark of successful writes
        self.error: Optional[OSError] = None

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos + {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int) -> bytes:  # h5py tells a file object by its read and seek
        buf = bytearray(n)
        self.readinto(buf)
        return bytes(buf)

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        try:
            n = os.preadv(self.fd, [view], self.pos)
        except OSError as e:
            n, self.error = 0, self.error or e
        view[n:] = bytes(len(view) - n)
        self.pos += len(view)
        return len(view)

    def write(self, buf) -> int:
        view = memoryview(buf).cast("B")
        done = 0
        try:
            while self.error is None and done < len(view):
                done += os.pwrite(self.fd, view[done:], self.pos + done)
        except OSError as e:
            self.error = e
        if done:
            self.end = max(self.end, self.pos + done)
        self.pos += len(view)
        self.size = max(self.size, self.pos)
        return len(view)

    def truncate(self, size: int) -> int:
        self.size = size
        if self.error is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as e:
                self.error = e
        return size

    def flush(self) -> None:
        pass

    def sync(self) -> None:
        """fsync: some file systems (NFS, delayed allocation) report a full disk only here."""
        if self.error is None:
            try:
                os.fsync(self.fd)
            except OSError as e:
                self.error = e

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.close(fd)
            except OSError as e:
                self.error = self.error or e


def _create_temp(out: Path) -> tuple[Path, int]:
    """A new, empty temp file beside OUT; O_EXCL: never an existing file (it may be a source)."""
    for _ in range(100):
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
    raise DataError(f"cannot create a temp file in {out.parent}")


class _Writer:
    """Appends images to a temp file beside OUT; `finish` writes labels and attributes, then renames.

    `rows` (the most images that will be appended) and `text_bytes` size the free-space
    check made before anything is written.
    """

    def __init__(self, out_path, shape: tuple[int, int, int], *, rows: int, text_bytes: int = 0,
                 overwrite: bool = False):
        self.out, self.overwrite, self.done = Path(out_path), overwrite, False
        self.needed = estimate_bytes(rows, shape, text_bytes)
        self.f = None
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._check_free_space()
            self.tmp, fd = _create_temp(self.out)
        except OSError as e:
            raise self._error(e) from None
        self.file = _TempFile(fd)
        try:
            self.f = h5py.File(self.file, "w")
            rows_per_chunk = chunk_rows(int(np.prod(shape)))
            self.ds = self.f.create_dataset("images", shape=(0, *shape), maxshape=(None, *shape),
                                            dtype=np.uint8, chunks=(rows_per_chunk, *shape))
            self._raise_if_failed()
        except BaseException:
            self.discard()
            raise
        self.n = 0

    def _check_free_space(self) -> None:
        try:
            free = shutil.disk_usage(self.out.parent).free
        except OSError:
            return  # cannot tell: the writes will say
        if self.needed > free:
            raise DataError(f"the disk is too full in {self.out.parent}: {self.out.name} needs about "
                            f"{_mb(self.needed)} and only {_mb(free)} are free; free some space there or "
                            "write the output somewhere else")

    def _error(self, e: OSError) -> DataError:
        where = self.out.parent
        why = FULL_DISK.get(e.errno)
        if why is None:
            return DataError(f"cannot write {self.out} ({e.strerror or e}); check that {where} is writable, "
                             "or write the output somewhere else")
        written = f" after {_mb(self.file.end)}" if getattr(self, "file", None) else ""
        return DataError(f"{why}: writing {self.out.name} into {where} stopped{written} of about "
                         f"{_mb(self.needed)} needed; free some space there or write the output somewhere else")

    def _raise_if_failed(self) -> None:
        if self.file.error is not None:
            raise self._error(self.file.error)

    def append(self, block: np.ndarray) -> None:
        self.ds.resize(self.n + len(block), axis=0)
        self.ds[self.n:] = block
        self.n += len(block)
        self._raise_if_failed()

    def finish(self, labels, filenames, attrs: dict) -> None:
        if labels is not None:
            self.f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
        self.f.create_dataset("filenames", data=[_text(n) for n in filenames], dtype=h5py.string_dtype())
        self.f.attrs.update({"ganlab_format": FORMAT_VERSION, **attrs,
                             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        self.f.close()
        self.file.sync()
        self.file.close()
        self._raise_if_failed()
        check_destination(self.out, self.overwrite)  # again: another writer may have made OUT meanwhile
        os.replace(self.tmp, self.out)  # atomic: readers see the old file or the whole new one
        self.done = True

    def discard(self) -> None:
        """Close everything and remove the temp file, whatever state the writing was left in."""
        try:
            if self.f is not None:
                self.f.close()
        except Exception:  # libhdf5 saw no failed write (`_TempFile`), so this is not expected
            pass
        finally:
            self.file.close()
            self.tmp.unlink(missing_ok=True)


@contextmanager
def _writing(out_path, shape, *, rows: int, text_bytes: int = 0, overwrite: bool = False) -> Iterator[_Writer]:
    """A `_Writer` whose temp file is removed, in every case, unless `finish` renamed it onto OUT."""
    w = _Writer(out_path, shape, rows=rows, text_bytes=text_bytes, overwrite=overwrite)
    try:
        yield w
    finally:
        if not w.done:
            w.discard()


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
                shuffle: bool = False, overwrite: bool = False) -> PackReport:
    """Pack an in-memory dataset (digits, MNIST, ...) into the same format as `pack`.

    images: uint8 (N, C, S, S) with C 1 or 3 (numpy or a CPU tensor); labels: (N,) ints in
    [0, len(class_names)) or None. `shuffle` stores them in a fixed (seed 0) random order.
    An existing `out_path` is replaced only with `overwrite=True`.
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
    check_destination(out_path, overwrite)
    names = [f"{source}[{i}]" for i in order]
    with _writing(out_path, x.shape[1:], rows=len(x), text_bytes=sum(map(len, names)), overwrite=overwrite) as w:
        for a in range(0, len(x), 4096):
            w.append(x[order[a:a + 4096]])
        w.finish(None if y is None else y[order], names,
                 _attrs(source, options, class_names if y is not None else [], []))
    seconds = time.perf_counter() - t0
    return PackReport(str(out_path), len(x), 0, [], tuple(class_names) if y is not None else (),
                      seconds, len(x) / seconds if seconds > 0 else 0.0)
