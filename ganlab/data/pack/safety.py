"""The rules for untrusted input, in one place to audit: which names are read, which refused.

`sources.py` walks folders and archives and asks these functions about every entry; nothing
here opens a file. A refused entry gets a reason (a short sentence, shown to the user); a
cap that is exceeded raises DataError and stops the whole pack.

- hidden (`.x`, `__MACOSX/`): never content, never reported, whatever else is wrong;
- an entry that is not an image name is ignored, unless it is unsafe (then reported);
- unsafe in an archive: an absolute path (`/x`, `C:x`), a `..` part, a link, a device or
  FIFO, anything else that is not a regular file, an encrypted zip member;
- unsafe in a folder: a symlink that leads outside SRC (symlinked folders are not entered),
  and anything that is not a regular file once the links are followed (a FIFO would block
  the read forever, /dev/zero never ends, a socket cannot be read);
- SRC itself must be a folder or a regular file (`not_regular`, the same rule);
- an image file over max_file_bytes is skipped;
- more than max_files entries, or more than max_total_bytes (uncompressed), stops the pack.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Optional

from ..base import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jfif", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                    ".ppm", ".pgm", ".pbm", ".pnm")


def is_hidden(name: str) -> bool:
    """.DS_Store, __MACOSX/._x.jpg: never content, never reported."""
    return any(p.startswith(".") and p != ".." or p == "__MACOSX" for p in PurePosixPath(name).parts)


def is_image_name(name: str) -> bool:
    return not is_hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def is_ignored(name: str, problem: Optional[str]) -> bool:
    """Hidden entries, and harmless entries that are not images, are passed over in silence."""
    return is_hidden(name) or not (problem or is_image_name(name))


def unsafe_path(name: str) -> Optional[str]:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "unsafe path: absolute"
    if ".." in PurePosixPath(name).parts:
        return "unsafe path: '..'"
    return None


def zip_member_problem(name: str, info: zipfile.ZipInfo) -> Optional[str]:
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no type
    return unsafe_path(name) or (
        "link" if kind == stat.S_IFLNK else
        "special file" if kind not in (0, stat.S_IFREG) else
        "encrypted" if info.flag_bits & 0x1 else None)


def tar_member_problem(m: tarfile.TarInfo) -> Optional[str]:
    return unsafe_path(m.name) or (
        "link" if m.issym() or m.islnk() else
        "special file" if m.isdev() or m.isfifo() else
        None if m.isreg() else "not a regular file")


def folder_entry_problem(real_root: str, full: str, mode: Optional[int]) -> Optional[str]:
    """A symlink inside SRC may point anywhere in SRC, never out of it; `mode` (from os.stat,
    links followed; None when it failed) must be a regular file's."""
    if os.path.commonpath([real_root, os.path.realpath(full)]) != real_root:
        return "symlink points outside SRC"
    what = None if mode is None else not_regular(mode)
    return f"not a regular file: {what}" if what else None


FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def not_regular(mode: int) -> Optional[str]:
    """What a file is when it is not a regular file (from its stat mode), else None.

    Checked from `stat` before a file is opened and again from `fstat` once it is open (so a
    file swapped for a FIFO in between is caught too); nothing is read from such a file.
    """
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in FILE_KINDS if test(mode)), "an unknown kind of file")


def oversize(size: int, max_file_bytes: int) -> Optional[str]:
    return f"{size} bytes, over max_file_bytes = {max_file_bytes}" if size > max_file_bytes else None


def check_count(path: Path, n: int, max_files: int) -> None:
    if n > max_files:
        raise DataError(f"{path} holds more than {max_files} files (max_files)")


def check_bytes(path: Path, n: int, what: str, max_total_bytes: int) -> None:
    if n > max_total_bytes:
        raise DataError(f"{path}: {what} exceed max_total_bytes = {max_total_bytes}")


def check_expanded(path: Path, n: int, max_total_bytes: int) -> None:
    """A compressed stream read so far to byte n (a tar.gz bomb is caught while it inflates)."""
    if n > max_total_bytes:
        raise DataError(f"{path} expands to more than max_total_bytes = {max_total_bytes}")
