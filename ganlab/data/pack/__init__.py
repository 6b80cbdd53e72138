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
the member count and the uncompressed size are capped (the rules: `safety.py`). Images
are opened by a fixed list of Pillow decoders and one over `max_pixels` or Pillow's
`Image.MAX_IMAGE_PIXELS` is refused before it is decoded (`decode.py`, which says why
nothing changes the process's warning filters).

Modules: `options` (PackOptions, PackReport), `safety` + `sources` (reading), `decode`,
`labels`, `write` (the layout above, and `pack_arrays`); `pack` here runs them together.
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
from .decode import PIL_FORMATS, _decode_or_reason, decode_image
from .labels import classes_from_folders
from .options import PackOptions, PackReport
from .safety import IMAGE_EXTENSIONS
from .sources import _open_source, _Source, iter_sources
from .write import FORMAT_VERSION, MAX_SKIPPED_STORED, _attrs, _Writer, _writing, chunk_rows, pack_arrays

__all__ = ["FORMAT_VERSION", "IMAGE_EXTENSIONS", "MAX_SKIPPED_STORED", "PIL_FORMATS", "PackOptions",
           "PackReport", "chunk_rows", "decode_image", "iter_sources", "pack", "pack_arrays"]


def pack(src, out_path, opts: PackOptions = PackOptions(), *,
         progress: Optional[Callable[[int, int], None]] = None,
         workers: Optional[int] = None) -> PackReport:
    """Decode, crop and resize every image under `src` into `out_path` (HDF5, written atomically).

    Decoding runs in a thread pool of `workers` (default: every core): Pillow releases the
    GIL while it decodes and resizes, and on 2 cores threads were as fast as or faster
    than processes, which pay to pickle every image both ways. `progress(done, total)` is
    called from this thread at most ~10 times a second, and once at the end. On any error
    nothing is left behind: neither OUT nor OUT.tmp (an existing OUT is kept as it was).
    """
    opts.validate()
    t0, skipped = time.perf_counter(), []
    workers = max(1, workers or os.cpu_count() or 1)
    shape = (opts.channels, opts.size, opts.size)
    with _open_source(src, opts, lambda name, reason: skipped.append((name, reason))) as source:
        names = source.names()
        class_names, labels = classes_from_folders(names, opts.labels)
        with _writing(out_path, shape) as w:
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
    """Read in order on this thread, decode on the pool, write in order; -> indices kept."""
    kept, block, pending, last = [], [], deque(), [0.0]

    def drain(limit: int) -> None:
        while len(pending) > limit:
            i, fut = pending.popleft()
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
    with ThreadPoolExecutor(workers) as pool:
        for i, name in enumerate(names):
            pending.append((i, _submit(pool, source, name, opts)))
            drain(4 * workers)  # a few images in flight per worker; memory stays flat
        drain(0)
    if block:
        writer.append(np.stack(block))
    return kept


def _submit(pool: ThreadPoolExecutor, source: _Source, name: str, opts: PackOptions) -> Future:
    """Read one file here (archives must be read in order) and decode it on the pool."""
    try:
        data = source.read(name)
    except DataError:
        raise
    except Exception as e:  # a damaged member or a file that vanished skips that one file
        fut: Future = Future()
        fut.set_result(f"cannot read: {type(e).__name__}: {e}"[:300])
        return fut
    return pool.submit(_decode_or_reason, data, opts)


def _empty_error(src, total: int, skipped: list[tuple[str, str]]) -> DataError:
    if total == 0 and not skipped:
        return DataError(f"no readable images found in {src} (no files ending in "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    shown = "; ".join(f"{n}: {r}" for n, r in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
    return DataError(f"no readable images found in {src} ({len(skipped)} files skipped: {shown})")
