"""What a stranger's HDF5 file can make ganlab read: only bytes inside that file, only as many as it holds.

HDF5 lets a dataset keep its bytes elsewhere: external storage names any raw file (say
/etc/passwd), a virtual dataset maps other HDF5 files, and an external link resolves a name in
another file; each would turn a local file into training pixels. A dataset's shape is a claim,
not a fact: chunks never written read back as the fill value, so a 10 KB file can claim 10^9
images and make a reader allocate for all of them. Every dataset ganlab reads from a packed
file passes `checked_dataset` first, which looks at metadata only (layout, filters, the chunk
index's count, storage sizes against the file's real size), so nothing is allocated for a claim
the file cannot back, and each refusal is one DataError sentence.
"""

from __future__ import annotations

import os
from math import prod
from typing import Optional

import h5py
from h5py import h5d, h5z

from .base import DataError

PACK_HINT = "create it with `python -m ganlab pack SRC OUT.h5 --size 64`"
MAX_SIDE = 1024  # pixels per image side, as `ganlab pack --size` allows
MAX_IMAGES = 10**8
MAX_CLASSES = 10_000
MAX_CHUNK_BYTES = 64 * 2**20  # h5py reads a whole chunk to read any part of it
MAX_ATTRIBUTE_BYTES = 2**20  # class names, options: a few KB in a packed file
MAX_COMPRESSION = 1100  # raw bytes per stored byte: deflate tops out near 1032:1, lzf far lower
# the filters HDF5 and h5py build in (any other id makes HDF5 search its plugin path for code to load)
FILTERS = {h5z.FILTER_DEFLATE: "gzip", h5z.FILTER_SHUFFLE: "shuffle", h5z.FILTER_FLETCHER32: "fletcher32",
           h5z.FILTER_LZF: "lzf"}
IN_FILE_LAYOUTS = {h5d.CONTIGUOUS: "contiguous", h5d.CHUNKED: "chunked", h5d.COMPACT: "compact"}


class FileFacts:
    """The real size of the file being read and where HDF5's addresses start in it."""

    def __init__(self, f: h5py.File, path):
        self.path, self.size, self.base = path, os.path.getsize(path), int(f.userblock_size)


def _refuse(facts: FileFacts, name: str, why: str) -> DataError:
    return DataError(f"{facts.path}: '{name}' {why}; ganlab reads only data stored inside the file itself — "
                     f"{PACK_HINT}")


def _short(s) -> str:
    s = s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)
    return s if len(s) <= 80 else s[:77] + "..."


def checked_dataset(f: h5py.File, name: str, facts: FileFacts) -> Optional[h5py.Dataset]:
    """f[name] when it is a dataset of this file (None when absent): links into other files are refused.

    Only the link is checked here; call `check_storage` once its shape and dtype are known to be sane.
    """
    link = f.get(name, getlink=True)
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise _refuse(facts, name, f"is a link into another file ({_short(link.filename)})")
    if not isinstance(link, (h5py.HardLink, h5py.SoftLink)):
        raise _refuse(facts, name, f"is a {type(link).__name__}, which HDF5 resolves outside this file")
    obj = f.get(name)
    if obj is not None and obj.file.filename != f.filename:  # a soft link that ends in an external one
        raise _refuse(facts, name, f"resolves into another file ({_short(obj.file.filename)})")
    return obj


def check_storage(ds: h5py.Dataset, name: str, facts: FileFacts) -> None:
    """Refuse storage outside the file, unknown filters, and shapes whose bytes the file does not hold."""
    plist = ds.id.get_create_plist()
    layout = plist.get_layout()
    if ds.is_virtual or layout == h5d.VIRTUAL:
        raise _refuse(facts, name, "is a virtual dataset that maps other files")
    if plist.get_external_count() > 0:
        raise _refuse(facts, name, f"keeps its bytes in external files ({_short(plist.get_external(0)[0])})")
    if layout not in IN_FILE_LAYOUTS:
        raise _refuse(facts, name, f"has storage layout {layout}, not contiguous, chunked or compact")
    raw = prod(ds.shape) * ds.dtype.itemsize
    stored = int(ds.id.get_storage_size())
    if stored > facts.size:
        raise _claims(facts, name, f"says {stored:,} bytes of it are stored, but the file has {facts.size:,}")
    if layout == h5d.CHUNKED:
        _check_chunks(ds, plist, name, facts, raw, stored)
    elif stored < raw:  # contiguous storage never written, or compact data shorter than its shape
        raise _claims(facts, name, f"should hold {raw:,} bytes but {stored:,} are stored")
    elif layout == h5d.CONTIGUOUS and raw:
        offset = ds.id.get_offset()  # None only when never written, which `stored` already refused
        end = facts.base + int(offset or 0) + raw
        if offset is None or end > facts.size:
            raise _claims(facts, name, f"needs the file's bytes up to {end:,} but it ends at {facts.size:,}")


def _check_chunks(ds: h5py.Dataset, plist, name: str, facts: FileFacts, raw: int, stored: int) -> None:
    chunk_bytes = prod(ds.chunks) * ds.dtype.itemsize
    if chunk_bytes > MAX_CHUNK_BYTES:
        raise _refuse(facts, name, f"has chunks of {chunk_bytes:,} bytes, more than the {MAX_CHUNK_BYTES:,} ganlab reads "
                                   f"at once")
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    unknown = [code for code in filters if code not in FILTERS]
    if unknown:
        raise DataError(f"{facts.path}: '{name}' is compressed with HDF5 filter {unknown[0]}, which ganlab does not "
                        f"read (it reads {', '.join(FILTERS.values())}) — {PACK_HINT}")
    wanted = prod(-(-s // c) for s, c in zip(ds.shape, ds.chunks))
    have = int(ds.id.get_num_chunks()) if wanted else 0
    if have != wanted:  # a chunk never written reads back as zeros: a claim without data
        raise _claims(facts, name, f"has {have:,} of its {wanted:,} chunks stored")
    if not filters and stored < raw:
        raise _claims(facts, name, f"should hold {raw:,} bytes but {stored:,} are stored")
    if filters and raw > stored * MAX_COMPRESSION:
        raise _claims(facts, name, f"unpacks {stored:,} stored bytes into {raw:,}, more than compression can")


def _claims(facts: FileFacts, name: str, what: str) -> DataError:
    return DataError(f"{facts.path} is damaged or truncated, or claims data it does not hold: '{name}' {what} — "
                     f"pack it again with `python -m ganlab pack SRC OUT.h5 --size 64`")


def check_image_shape(shape: tuple[int, ...], facts: FileFacts) -> None:
    """Sane bounds on what 'images' claims, before its storage is looked at (the count then is bounded by the file)."""
    n, _, h, w = shape
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise DataError(f"{facts.path}: images are {h}x{w} pixels; ganlab trains on images of at most {MAX_SIDE}x{MAX_SIDE} "
                        f"— pack them again with `python -m ganlab pack SRC OUT.h5 --size 64`")
    if n > MAX_IMAGES:
        raise DataError(f"{facts.path}: 'images' claims {n:,} images, more than the {MAX_IMAGES:,} ganlab reads from one "
                        f"file — split it, or pack fewer images")


def check_attributes(f: h5py.File, facts: FileFacts) -> None:
    """Attributes are read whole: a huge one is refused before it is read."""
    for key in f.attrs:
        size = f.attrs.get_id(key).get_storage_size()
        if size > MAX_ATTRIBUTE_BYTES:
            raise DataError(f"{facts.path}: attribute {_short(key)!r} takes {size:,} bytes, more than the "
                            f"{MAX_ATTRIBUTE_BYTES:,} ganlab reads — {PACK_HINT}")


def check_class_count(n: int, facts: FileFacts) -> None:
    if n > MAX_CLASSES:
        raise DataError(f"{facts.path}: 'class_names' lists {n:,} classes, more than the {MAX_CLASSES:,} ganlab "
                        f"trains on — merge classes or pack the images without labels")
