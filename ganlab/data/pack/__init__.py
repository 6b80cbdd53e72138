"""Pack a folder or an archive of images into one HDF5 file (`python -m ganlab pack`).

Layout of a packed file (format 1), read back by `ganlab.data.hdf5`:

    images     uint8 (N, C, H, W), H == W == size; chunked by `chunk_rows` images
    labels     int64 (N,), only when the dataset has classes
    filenames  utf-8 strings (N,): where each image came from, relative to the source
    attrs      ganlab_format=1, class_names (JSON list), size, channels, crop, source,
               options (JSON), n_skipped, skipped (JSON [[name, reason], ...], first 1000),
               created (ISO time, UTC)

Chunks are the unit of a random read. They hold one image (up to 16 tiny ones, < 2 KiB
each), so a random batch read chunk by chunk is as well mixed as one drawn image by image:
images stored next to each other often share a folder, i.e. a class. Per-image chunks cost
~7% in file size for 28x28 images and nothing measurable at 64x64.

Untrusted input: archives are read member by member in memory (nothing is extracted);
members with absolute or `..` paths, links and device files are skipped and reported;
the member count and the uncompressed size are capped (the rules: `safety.py`). SRC, and
every file of a folder SRC, must be a regular file: a FIFO, a device or a socket is
refused before a byte is read (`sources.open_regular`). Images are opened by a fixed list
of Pillow decoders and one over `max_pixels` or Pillow's `Image.MAX_IMAGE_PIXELS` is
refused before it is decoded (`decode.py`, which says why nothing changes the process's
warning filters). Memory stays bounded: a decode needs about 8 bytes a source pixel, the
pixels decoding at once are capped by `max_pixels_in_flight` (`budget.py`), and the
encoded bytes read ahead of the decoders by `max_bytes_in_flight`.

Output: OUT may not be the source or inside a folder source, and an existing OUT is
replaced only with `overwrite=True`; a full disk ends in a DataError with nothing left
behind (`write.py`).

Modules: `options` (PackOptions, PackReport), `safety` + `sources` (reading), `decode`
+ `budget`, `labels`, `write` (the layout above, and `pack_arrays`); `pack` here runs them together.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from typing import Optional

import numpy as np

from ..base import DataError
from .budget import PixelBudget
from .decode import PIL_FORMATS, _decode_or_reason, decode_image
from .labels import classes_from_folders
from .options import PackOptions, PackReport
from .safety import IMAGE_EXTENSIONS
from .sources import SkipFile, _open_source, _Source, iter_sources
from .write import FORMAT_VERSION, MAX_SKIPPED_STORED, _attrs, _Writer, _writing, check_destination, chunk_rows, pack_arrays

__all__ = ["FORMAT_VERSION", "IMAGE_EXTENSIONS", "MAX_SKIPPED_STORED", "PIL_FORMATS", "PackOptions",
           "PackReport", "chunk_rows", "decode_image", "iter_sources", "pack", "pack_arrays"]


def pack(src, out_path, opts: PackOptions = PackOptions(), *,
         progress: Optional[Callable[[int, int], None]] = None,
         workers: Optional[int] = None, overwrite: bool = False) -> PackReport:
    """Decode, crop and resize every image under `src` into `out_path` (HDF5, written atomically).

    Decoding runs in a thread pool of `workers` (default: every core): Pillow releases the
    GIL while it decodes and resizes, and on 2 cores threads were as fast as or faster
    than processes, which pay to pickle every image both ways. How many pixels decode at
    once is capped whatever the thread count (`opts.max_pixels_in_flight`). `progress(done,
    total)` is called from this thread at most ~10 times a second, and once at the end.
    An existing `out_path` is replaced only with `overwrite=True`; one that is `src`, or
    inside a folder `src`, never. On any error nothing is left behind: no OUT, no temp
    file (an existing OUT is kept as it was).
    """
    opts.validate()
    check_destination(out_path, overwrite, src)
    t0, skipped = time.perf_counter(), []
    workers = max(1, workers or os.cpu_count() or 1)
    shape = (opts.channels, opts.size, opts.size)
    with _open_source(src, opts, lambda name, reason: skipped.append((name, reason))) as source:
        names = source.names()
        class_names, labels = classes_from_folders(names, opts.labels)
        text_bytes = sum(map(len, names)) + 300 * min(MAX_SKIPPED_STORED, len(names) + len(skipped))  # + reasons
        with _writing(out_path, shape, rows=len(names), text_bytes=text_bytes, overwrite=overwrite) as w:
            kept = _decode_all(source, names, opts, workers, skipped, progress, w)
            if not kept:
                raise _empty_error(src, len(names), skipped)
            w.finish(None if labels is None else [labels[i] for i in kept], [names[i] for i in kept],
                     _attrs(src, asdict(opts), class_names, skipped))
    seconds = time.perf_counter() - t0
    return PackReport(str(out_path), len(kept), len(skipped), skipped, tuple(class_names), seconds,
                      len(kept) / seconds if seconds > 0 else 0.0, workers)


def _decode_all(source: _Source, names: list[str], opts: PackOptions, workers: int,
                skipped: list, progress, writer: _Writer) -> list[int]:
    """Read in order on this thread, decode on the pool, write in order; -> indices kept.

    Read-ahead stops at 4 files per worker or `max_bytes_in_flight` encoded bytes, whichever
    comes first (one file is always let through); decodes share one `PixelBudget`.
    """
    kept, block, pending, last, in_flight = [], [], deque(), [0.0], [0]
    budget = PixelBudget(opts.max_pixels_in_flight)

    def drain(limit: int) -> None:
        while pending and (len(pending) > limit or in_flight[0] > opts.max_bytes_in_flight):
            i, fut, nbytes = pending.popleft()
            in_flight[0] -= nbytes
            out = fut.result()
            if isinstance(out, str):
                skipped.append((names[i], out))
            else:
                block.append(out)
                kept.append(i)
            if len(block) >= 256:
                writer.append(np.stack(block))
                block.clear()
            done = i + 1
            if progress and (time.perf_counter() - last[0] > 0.1 or done == len(names)):
                progress(done, len(names))
                last[0] = time.perf_counter()

    if progress:
        progress(0, len(names))
    pool = ThreadPoolExecutor(workers)
    try:
        for i, name in enumerate(names):
            fut, nbytes = _submit(pool, source, name, opts, budget)
            pending.append((i, fut, nbytes))
            in_flight[0] += nbytes
            drain(4 * workers)  # a few images in flight per worker; memory stays flat
        drain(0)
    finally:
        pool.shutdown(cancel_futures=True)  # on an error, queued decodes are dropped, not run
    if block:
        writer.append(np.stack(block))
    return kept


def _submit(pool: ThreadPoolExecutor, source: _Source, name: str, opts: PackOptions,
            budget: PixelBudget) -> tuple[Future, int]:
    """Read one file here (archives must be read in order) and decode it on the pool;
    -> (the decode, the bytes it holds)."""
    try:
        data = source.read(name)
    except DataError:
        raise
    except Exception as e:  # a damaged member, a FIFO or a file that vanished skips that one file
        fut: Future = Future()
        reason = str(e) if isinstance(e, SkipFile) else f"cannot read: {type(e).__name__}: {e}"
        fut.set_result(reason[:300])
        return fut, 0
    return pool.submit(_decode_or_reason, data, opts, budget), len(data)


def _empty_error(src, total: int, skipped: list[tuple[str, str]]) -> DataError:
    if total == 0 and not skipped:
        return DataError(f"no readable images found in {src} (no files ending in "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    shown = "; ".join(f"{n}: {r}" for n, r in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
    return DataError(f"no readable images found in {src} ({len(skipped)} files skipped: {shown})")
