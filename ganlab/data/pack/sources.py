"""Read the image files of a folder, a .zip or a .tar, in memory, without extracting anything.

One `_Source` subclass per kind lists the entries and reads one entry's bytes; which entries
are refused, and which caps stop the pack, is decided in `safety.py` (one screen to audit).
Every file is opened by `open_regular`, SRC itself and each file of a folder alike: a FIFO,
a device or a socket is refused before a byte is read from it (a FIFO never blocks the open).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Optional

from ..base import DataError
from . import safety
from .options import PackOptions


class SkipFile(Exception):
    """One file of a folder cannot be packed; the message is the reason shown to the user."""


class NotRegular(SkipFile):
    def __init__(self, what: str):
        super().__init__(f"not a regular file: {what}")
        self.what = what


def open_regular(path) -> BinaryIO:
    """`path` opened for reading, if it is a regular file; else SkipFile saying what it is.

    stat first, so a device is never opened at all (opening some has side effects, such as a
    tape rewinding); then open with O_NONBLOCK, so a file swapped for a FIFO meanwhile cannot
    block, and fstat the descriptor: what is read is what was checked.
    """
    what = safety.not_regular(os.stat(path).st_mode)
    if what:
        raise NotRegular(what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        what = safety.not_regular(os.fstat(fd).st_mode)
        if what:
            raise NotRegular(what)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Source:
    """Names of the image files under SRC and a way to read each one; one subclass per kind.

    `names()` lists (and caps) everything first, so labels and progress know the total;
    `read(name)` then returns one file's bytes. `kept` maps a name to what reads it.
    """

    def __init__(self, path: Path, opts: PackOptions, on_skip: Callable[[str, str], None]):
        self.path, self.opts, self.on_skip = path, opts, on_skip
        self.kept: dict = {}

    def close(self) -> None:
        pass

    def _keep(self, name: str, problem: Optional[str], size: int, ref) -> None:
        """Report a member with a problem; keep an image of acceptable size; ignore the rest."""
        if safety.is_ignored(name, problem):
            return
        problem = problem or safety.oversize(size, self.opts.max_file_bytes)
        if problem:
            self.on_skip(name, problem)
        else:
            self.kept[name] = ref

    def _check_count(self, n: int) -> None:
        safety.check_count(self.path, n, self.opts.max_files)

    def _check_bytes(self, n: int, what: str) -> None:
        safety.check_bytes(self.path, n, what, self.opts.max_total_bytes)


class _FolderSource(_Source):
    """A folder, walked recursively in sorted order; symlinked folders are not entered."""

    def names(self) -> list[str]:
        root, total = os.path.realpath(self.path), 0
        for d, dirs, files in os.walk(self.path):
            dirs[:] = sorted(x for x in dirs if not safety.is_hidden(x))
            for f in sorted(files):
                full = os.path.join(d, f)
                name = Path(os.path.relpath(full, self.path)).as_posix()
                if not safety.is_image_name(name):
                    continue
                try:
                    st, unreadable = os.stat(full), None  # follows a symlink: checks what would be read
                except OSError as e:
                    st, unreadable = None, f"cannot read: {e.strerror or e}"
                problem = safety.folder_entry_problem(root, full, st and st.st_mode) or unreadable
                size = 0 if problem else st.st_size
                self._keep(name, problem, size, full)
                self._check_count(len(self.kept))
                total += size
        self._check_bytes(total, "the image files")
        return list(self.kept)

    def read(self, name: str) -> bytes:
        with open_regular(self.kept[name]) as f:
            data = f.read(self.opts.max_file_bytes + 1)
        if len(data) > self.opts.max_file_bytes:  # it grew after it was listed
            raise SkipFile(safety.oversize(len(data), self.opts.max_file_bytes))
        return data


class _ZipSource(_Source):
    """A .zip, members sorted by name; zipfile never reads past a member's declared size."""

    def __init__(self, path, opts, on_skip, raw: BinaryIO):
        super().__init__(path, opts, on_skip)
        self.raw = raw
        self._check_count(_zip_entry_count(raw))  # before zipfile parses the whole directory
        self.zf = zipfile.ZipFile(raw)

    def names(self) -> list[str]:
        infos = self.zf.infolist()
        self._check_count(len(infos))
        self._check_bytes(sum(i.file_size for i in infos), "its members uncompressed")
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename.replace("\\", "/")
            self._keep(name, safety.zip_member_problem(name, info), info.file_size, info)
        self.kept = dict(sorted(self.kept.items()))
        return list(self.kept)

    def read(self, name: str) -> bytes:
        return self.zf.read(self.kept[name])

    def close(self) -> None:
        self.zf.close()
        self.raw.close()  # zipfile leaves a file object it was given open


class _Capped:
    """A read/seek/tell stream that refuses to go past `cap` bytes (decompression bombs)."""

    def __init__(self, f, cap: int, path: Path):
        self.f, self.cap, self.path = f, cap, path

    def _check(self) -> None:
        safety.check_expanded(self.path, self.f.tell(), self.cap)

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(self.cap + 1 - self.f.tell() if n < 0 else n)
        self._check()
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        r = self.f.seek(pos, whence)
        self._check()
        return r

    def tell(self) -> int:
        return self.f.tell()


class _TarSource(_Source):
    """A .tar, .tar.gz, .tar.bz2 or .tar.xz, in archive order (a compressed stream cannot
    seek back cheaply); the whole uncompressed stream is capped, pax headers included."""

    OPENERS = {b"\x1f\x8b": lambda f: gzip.GzipFile(fileobj=f), b"BZh": bz2.BZ2File,
               b"\xfd7zXZ": lzma.LZMAFile}  # by magic bytes, whatever the file is called

    def __init__(self, path, opts, on_skip, raw):
        super().__init__(path, opts, on_skip)
        self.raw = raw
        opener = next((o for magic, o in self.OPENERS.items() if raw.read(6).startswith(magic)), None)
        raw.seek(0)
        self.stream = opener(raw) if opener else raw
        self.tf = tarfile.open(fileobj=_Capped(self.stream, opts.max_total_bytes, path), mode="r:")

    def names(self) -> list[str]:
        for n, m in enumerate(self.tf, 1):
            self._check_count(n)
            if not m.isdir():
                self._keep(m.name, safety.tar_member_problem(m), m.size, m)
        return list(self.kept)

    def read(self, name: str) -> bytes:
        return self.tf.extractfile(self.kept[name]).read()

    def close(self) -> None:
        self.tf.close()
        self.stream.close()
        self.raw.close()


def _zip_entry_count(f: BinaryIO) -> int:
    """Entries declared in a zip's end record, read without parsing its central directory."""
    size = f.seek(0, 2)
    f.seek(max(0, size - 65557))
    tail = f.read()
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        return 0  # zipfile itself will say what is wrong
    total = struct.unpack_from("<H", tail, i + 10)[0]
    if total == 0xFFFF and i >= 20 and tail[i - 20:i - 16] == b"PK\x06\x07":  # zip64
        f.seek(struct.unpack_from("<Q", tail, i - 12)[0])
        rec = f.read(56)
        if rec[:4] == b"PK\x06\x06":
            total = struct.unpack_from("<Q", rec, 32)[0]
    return total


@contextmanager
def _open_source(src, opts: PackOptions, on_skip: Callable[[str, str], None]) -> Iterator[_Source]:
    """The right `_Source` for SRC; archive errors become DataError, and it is always closed."""
    path = Path(src)
    kinds = "a folder, a .zip or a .tar (.tar.gz, .tar.bz2, .tar.xz) archive of images"
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        raise DataError(f"source not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e}); give {kinds}") from None
    try:
        if is_dir:
            source: _Source = _FolderSource(path, opts, on_skip)
        else:
            raw = open_regular(path)
            try:
                if zipfile.is_zipfile(raw):
                    source = _ZipSource(path, opts, on_skip, raw)
                else:
                    raw.seek(0)
                    source = _TarSource(path, opts, on_skip, raw)
            except BaseException:
                raw.close()
                raise
    except NotRegular as e:
        raise DataError(f"{path} is {e.what}, not {kinds}") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, lzma.LZMAError) as e:
        raise DataError(f"{path} is not {kinds} ({e})") from None
    try:
        yield source
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, lzma.LZMAError) as e:
        raise DataError(f"{path} is damaged or truncated ({e})") from None
    finally:
        source.close()


Loader = Callable[[], bytes]


def iter_sources(src, opts: PackOptions = PackOptions(), *,
                 on_skip: Optional[Callable[[str, str], None]] = None) -> Iterator[tuple[str, Loader]]:
    """(name relative to SRC, load() -> bytes) per image file in a folder, zip or tar.

    A `load` works until the iterator is exhausted or closed; calling each one before
    advancing keeps a compressed tar to one forward pass. Unsafe or oversized members are
    never yielded: `on_skip(name, reason)` hears about them. Caps raise DataError.
    """
    with _open_source(src, opts, on_skip or (lambda name, reason: None)) as source:
        for name in source.names():
            yield name, (lambda name=name: source.read(name))
