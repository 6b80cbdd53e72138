"""Packed HDF5 datasets (`hdf5:<path>`): the whole file on the device when it fits, streamed when not.

The streaming reader draws whole random chunks (the file's unit of storage: one image,
or up to 16 tiny ones; see `ganlab.data.pack`), shuffles within them, and reads them ahead
of the trainer on a daemon thread. On Linux/macOS a chunk of a file we packed is one
`os.preadv` at the byte offset HDF5 reports for it: no HDF5 call and no GIL per read
(h5py's per-read overhead made random batches of single images ~20x slower).
Compressed or foreign layouts fall back to h5py reads.

A stranger's file is read only after `ganlab.data.hdf5_safety` has checked, from metadata, that
every dataset read keeps its bytes inside the file and that the file holds what its shapes claim.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import h5py
import numpy as np
import torch

from ..errors import RunError
from .base import DataError, DataSpec, TensorDataset
from .hdf5_safety import (
    PACK_HINT,
    FileFacts,
    check_attributes,
    check_class_count,
    check_image_shape,
    check_storage,
    checked_dataset,
)

FORMAT_VERSION = 1  # the newest layout this reader understands (written by ganlab.data.pack)
MAX_DEVICE_BYTES = 2**30  # images up to this size live on the device as one tensor; bigger files stream
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class _Info:
    spec: DataSpec
    n: int  # images
    rows: int  # images per chunk: the unit of a random read
    meta: dict
    facts: FileFacts


# ------------------------------------------------------------------------------ opening
def _damaged(path, e: BaseException) -> DataError:
    return DataError(f"{path} is damaged or truncated ({str(e)[:200] or type(e).__name__}) — pack it "
                     "again with `python -m ganlab pack SRC OUT.h5 --size 64`")


@contextmanager
def _damage_is_data_error(path):
    """A damaged file can make h5py raise almost anything; the user sees one DataError."""
    try:
        yield
    except DataError:
        raise
    except Exception as e:
        raise _damaged(path, e) from None


def _open(path) -> h5py.File:
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p} — {PACK_HINT}")
    if p.is_dir():
        raise DataError(f"{p} is a folder, not an HDF5 file — pack it with "
                        f"`python -m ganlab pack {p} OUT.h5 --size 64`")
    try:
        return h5py.File(p, "r")
    except OSError as e:
        with open(p, "rb") as f:
            head = f.read(8)
        if head != HDF5_SIGNATURE:
            raise DataError(f"{p} is not an HDF5 file — {PACK_HINT}") from None
        raise _damaged(p, e) from None


def _inspect(f: h5py.File, path) -> _Info:
    """Check the layout and build the spec from metadata alone (no image is read, nothing sized by a claim)."""
    a, p = f.attrs, Path(path)
    facts = FileFacts(f, p)
    check_attributes(f, facts)
    if "ganlab_format" not in a:
        raise DataError(f"{p} is an HDF5 file but not a ganlab dataset (no 'ganlab_format' "
                        f"attribute) — {PACK_HINT}")
    version = int(a["ganlab_format"])
    if version > FORMAT_VERSION:
        raise DataError(f"{p} was written by a newer ganlab (format {version}; this one reads "
                        f"format {FORMAT_VERSION}) — upgrade ganlab or pack the images again")
    ds = checked_dataset(f, "images", facts)
    if not isinstance(ds, h5py.Dataset) or ds.dtype != np.uint8 or ds.ndim != 4 \
            or ds.shape[1] not in (1, 3) or ds.shape[0] == 0:
        found = f"{ds.dtype} {ds.shape}" if isinstance(ds, h5py.Dataset) else "no such dataset"
        raise DataError(f"{p}: 'images' must be a non-empty uint8 dataset (N, C, H, W) with C 1 or 3; "
                        f"found {found}")
    check_image_shape(ds.shape, facts)
    check_storage(ds, "images", facts)
    try:
        names = json.loads(a.get("class_names", "[]"))
        assert isinstance(names, list) and all(isinstance(s, str) for s in names)
    except (ValueError, AssertionError, TypeError):
        raise DataError(f"{p}: attribute 'class_names' is not a JSON list of strings") from None
    labels = checked_dataset(f, "labels", facts)
    if labels is not None and (not isinstance(labels, h5py.Dataset) or labels.shape != ds.shape[:1]
                               or labels.dtype.kind not in "iu" or not names):
        raise DataError(f"{p}: 'labels' must be {ds.shape[0]} integers, one per image, with class_names")
    labelled = labels is not None
    if labelled:
        check_class_count(len(names), facts)
        check_storage(labels, "labels", facts)
    spec = DataSpec(kind="images", shape=tuple(int(s) for s in ds.shape[1:]),
                    num_classes=len(names) if labelled else 0,
                    class_names=tuple(names) if labelled else (), value_range=(-1.0, 1.0))
    meta = {"path": str(p), "n_images": int(ds.shape[0]), "source": str(a.get("source", "")),
            "created": str(a.get("created", "")), "n_skipped": int(a.get("n_skipped", 0)),
            "options": _json_or_empty(a.get("options", "{}"))}
    rows = ds.chunks[0] if ds.chunks else 16
    return _Info(spec, int(ds.shape[0]), int(rows), meta, facts)


def _json_or_empty(s) -> dict:
    try:
        v = json.loads(s)
        return v if isinstance(v, dict) else {}
    except (TypeError, ValueError):
        return {}


def read_spec(path) -> DataSpec:
    """The DataSpec of a packed file from its metadata alone (cheap: no image is read)."""
    with _open(path) as f, _damage_is_data_error(path):
        return _inspect(f, path).spec


# ------------------------------------------------------------------------------ reading
class _ChunkReader:
    """Reads whole chunks (and the labels) of a packed file; safe to call from two threads."""

    def __init__(self, path):
        self.path, self.fd = str(path), -1
        self.f = _open(path)
        try:
            with _damage_is_data_error(path):
                self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        self.info = _inspect(self.f, self.path)
        self.ds = self.f["images"]
        self.n, self.rows = self.info.n, self.info.rows
        self.n_chunks = -(-self.n // self.rows)
        self.labels = self._read_labels()
        self.lock = threading.Lock()  # around h5py calls on the fallback paths
        self.offsets = self._chunk_offsets()
        if self.offsets is not None:
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            if os.fstat(self.fd).st_size != self.info.facts.size:  # not the file just checked
                raise DataError(f"{self.path} changed while it was being opened — try again once it is written")
            self._verify_offsets()

    def _read_labels(self) -> Optional[np.ndarray]:
        if self.info.spec.num_classes == 0:
            return None
        y = self.f["labels"][()].astype(np.int64)
        if y.min() < 0 or y.max() >= self.info.spec.num_classes:
            raise DataError(f"{self.path}: labels must lie in [0, {self.info.spec.num_classes}); "
                            f"found {y.min()}..{y.max()}")
        return y

    def _chunk_offsets(self) -> Optional[np.ndarray]:
        """File offset of every chunk, when chunks are raw bytes we may read ourselves.

        Each offset is checked to lie, with its whole chunk, inside this file (the storage check
        already ruled out bytes kept elsewhere); any chunk that does not fit means h5py reads all.
        """
        ds = self.ds
        plain = (ds.chunks is not None and ds.chunks[1:] == ds.shape[1:]
                 and ds.id.get_create_plist().get_nfilters() == 0)
        if not (plain and hasattr(os, "preadv") and hasattr(ds.id, "chunk_iter")):
            return None
        offs = np.full(self.n_chunks, -1, dtype=np.int64)  # n_chunks: the chunks the file really stores
        base, end = self.f.userblock_size, self.info.facts.size
        chunk_bytes = int(np.prod(ds.chunks))

        def visit(info) -> None:
            row, start = info.chunk_offset[0], base + info.byte_offset
            if (info.size == chunk_bytes and info.filter_mask == 0 and row % self.rows == 0 and row < self.n
                    and start + chunk_bytes <= end):
                offs[row // self.rows] = start

        ds.id.chunk_iter(visit)
        return offs if (offs >= 0).all() else None

    def _verify_offsets(self) -> None:
        """One chunk read both ways must agree, else use h5py for everything."""
        k = min(self.rows, self.n)
        mine, ref = np.empty((k, *self.ds.shape[1:]), np.uint8), self.ds[:k]
        self._pread(0, mine)
        if not np.array_equal(mine, ref):
            os.close(self.fd)
            self.fd, self.offsets = -1, None

    def _pread(self, c: int, out: np.ndarray) -> None:
        got = os.preadv(self.fd, [out], int(self.offsets[c]))
        if got != out.nbytes:
            raise _damaged(self.path, OSError(f"chunk {c}: read {got} of {out.nbytes} bytes"))

    def read_chunks(self, chunks) -> tuple[np.ndarray, np.ndarray]:
        """Images of the given chunks, concatenated -> (x (m, C, H, W) uint8, index (m,))."""
        starts = np.asarray(chunks, dtype=np.int64) * self.rows
        counts = np.minimum(self.rows, self.n - starts)
        x = np.empty((int(counts.sum()), *self.ds.shape[1:]), np.uint8)
        pos = 0
        with _damage_is_data_error(self.path):
            for c, s, k in zip(chunks, starts.tolist(), counts.tolist()):
                if self.offsets is not None:
                    self._pread(int(c), x[pos:pos + k])
                else:
                    with self.lock:
                        self.ds.read_direct(x, np.s_[s:s + k], np.s_[pos:pos + k])
                pos += k
        if self.rows == 1:
            return x, starts
        return x, np.concatenate([np.arange(s, s + k) for s, k in zip(starts.tolist(), counts.tolist())])

    def read_rows(self, idx: np.ndarray) -> np.ndarray:
        """Images at any indices, read chunk by chunk (each needed chunk once)."""
        x, index = self.read_chunks(np.unique(idx // self.rows))
        return x[np.searchsorted(index, idx)]

    def read_all(self) -> np.ndarray:
        x = np.empty(self.ds.shape, np.uint8)
        with self.lock, _damage_is_data_error(self.path):
            self.ds.read_direct(x)
        return x

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.f.close()


class _Prefetcher:
    """One daemon thread turning batch requests (epoch, (stream seed, batch number), n) into batches, in order.

    It holds the reader, never the dataset, so the dataset can be garbage collected; the
    dataset's finalizer calls `close()`, which stops the thread and closes the file.
    """

    def __init__(self, reader: _ChunkReader, cuda: bool):
        self.reader, self.cuda = reader, cuda
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.epoch = 0  # bumped when the consumer changes n or generator: older requests are void
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="ganlab-hdf5-prefetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            req = self.requests.get()
            if req is None:
                return
            epoch, seed, n = req
            if epoch != self.epoch:
                continue
            try:
                out = self._make(seed, n)
            except BaseException as e:  # handed to the consumer, raised there
                out = e
            self.results.put((epoch, out))

    def _make(self, seed: tuple[int, int], n: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Whole random chunks, shuffled together, first n kept; seed: (stream seed, batch number)."""
        r, rng = self.reader, np.random.default_rng(seed)
        k = -(-n // r.rows)
        x, index = r.read_chunks(rng.choice(r.n_chunks, k, replace=k > r.n_chunks))
        pick = rng.permutation(len(x))[:n] if len(x) >= n else rng.integers(len(x), size=n)
        yt = torch.from_numpy(r.labels[index[pick]]) if r.labels is not None else None
        if self.cuda:  # uint8 in page-locked memory: 4x less to copy; the GPU scales it
            return torch.from_numpy(x[pick]).pin_memory(), yt
        # CPU training: scale here, in single-threaded numpy, so the trainer's thread gets a
        # finished batch. (Scaling there with torch ran an OpenMP team over every core while
        # this thread held one: on 2 cores, 0.1 ms ops took ms.) float32, as TensorDataset.
        lo, hi = r.info.spec.value_range
        xf = x[pick].astype(np.float32)
        xf *= np.float32((hi - lo) / 255.0)
        xf += np.float32(lo)
        return torch.from_numpy(xf), yt

    def get(self, epoch: int):
        while True:
            try:
                got_epoch, out = self.results.get(timeout=1.0)
            except queue.Empty:
                if not self.thread.is_alive():
                    raise DataError(f"{self.reader.path}: the reader thread has stopped") from None
                continue
            if got_epoch != epoch:
                continue
            if isinstance(out, DataError):
                raise out
            if isinstance(out, BaseException):
                raise DataError(f"{self.reader.path}: reading a batch failed ({out!r})") from out
            return out

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.epoch += 1
        self.requests.put(None)
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=10)
        self.reader.close()


def _to_float(x: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    lo, hi = spec.value_range
    return x.float().mul_((hi - lo) / 255.0).add_(lo)


class StreamingHDF5Dataset:
    """A packed file too big for the device: random batches read ahead by a background thread.

    Batch i of a stream is a function of (stream seed, i) alone, so the thread can read ahead
    without touching the trainer's generator: the first `batch(n, gen)` call (or one with a new
    `n` or generator) draws the stream seed from `gen`, once; later calls draw nothing. A
    checkpoint therefore holds the whole stream in `state_dict()` (seed, batches handed out), and
    `load_state_dict` makes a resumed run read exactly the batches the uninterrupted one would
    (batches read ahead before the checkpoint are dropped and read again). Call `close()` (or use
    `with`) to stop the thread early.
    """

    def __init__(self, path, device, *, prefetch: int = 4):
        self.device = torch.device(device)
        self._reader = _ChunkReader(path)
        info = self._reader.info
        self.name, self.spec = f"hdf5:{path}", info.spec
        self.meta = {**info.meta, "storage": "streaming", "chunk_rows": info.rows,
                     "reads": "preadv" if self._reader.offsets is not None else "h5py"}
        self._prefetch = _Prefetcher(self._reader, cuda=self.device.type == "cuda")
        self._close = weakref.finalize(self, self._prefetch.close)
        self._depth, self._gen, self._n = max(1, prefetch), None, 0
        self._seed, self._position = 0, 0  # the stream: its seed, and batches handed out so far
        self._restored: Optional[tuple[int, int]] = None  # a checkpoint's stream, taken up by the next batch()

    def __len__(self) -> int:
        return self._reader.n

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        p = self._prefetch
        if p.closed:
            raise DataError(f"{self.name} is closed")
        if gen is not self._gen or n != self._n:  # a new stream (or a checkpoint's): its first batches
            p.epoch += 1
            self._gen, self._n = gen, n
            self._seed, self._position = self._restored or (_seed(gen), 0)
            self._restored = None
            for i in range(self._depth):
                p.requests.put((p.epoch, (self._seed, self._position + i), n))
        p.requests.put((p.epoch, (self._seed, self._position + self._depth), n))  # keep `prefetch` in flight
        x, y = p.get(p.epoch)
        self._position += 1
        x = x.to(self.device, non_blocking=True)
        x = _to_float(x, self.spec) if x.dtype == torch.uint8 else x
        return x, (y.to(self.device, non_blocking=True) if y is not None else None)

    def state_dict(self) -> dict[str, int]:
        """Where the stream stands: what a checkpoint needs to continue it exactly."""
        seed, position = self._restored or (self._seed, self._position)
        return {"seed": seed, "position": position}

    def load_state_dict(self, state: Optional[dict]) -> None:
        """Continue a checkpoint's stream at the next batch(); None (a checkpoint without one) starts a new
        stream from the restored generator."""
        restored = None
        if state is not None:
            restored = (state.get("seed"), state.get("position")) if isinstance(state, dict) else ()
            if not (len(restored) == 2 and all(type(v) is int and 0 <= v < 2**63 for v in restored)):
                raise RunError("the checkpoint's data stream state is not a seed and a batch count; resume from "
                               "another checkpoint or start a new run")
        self._restored = restored
        self._gen = None  # batches read ahead for the old position are void

    def take(self, n: int, seed: int = 0) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The same reproducible subset `TensorDataset.take` would give for this file."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[: min(n, len(self))].numpy()
        x = torch.from_numpy(self._reader.read_rows(idx)).to(self.device)
        labels = self._reader.labels
        y = torch.from_numpy(labels[idx]).to(self.device) if labels is not None else None
        return _to_float(x, self.spec), y

    def close(self) -> None:
        self._close()

    def __enter__(self) -> StreamingHDF5Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _seed(gen: torch.Generator) -> int:
    # one tiny draw per stream from the trainer's generator (a host sync when gen is on CUDA)
    return int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))


def load_hdf5(path, device, *, max_device_bytes: int = MAX_DEVICE_BYTES) -> TensorDataset | StreamingHDF5Dataset:
    """A packed file as a dataset: one uint8 tensor on `device` when its images take at most
    `max_device_bytes`, else a StreamingHDF5Dataset with the same interface."""
    with _open(path) as f, _damage_is_data_error(path):
        info = _inspect(f, path)
    if info.n * info.spec.dim > max_device_bytes:
        return StreamingHDF5Dataset(path, device)
    reader = _ChunkReader(path)
    try:
        x, y = reader.read_all(), reader.labels
    finally:
        reader.close()
    yt = torch.from_numpy(y).to(device) if y is not None else None
    return TensorDataset(f"hdf5:{path}", info.spec, torch.from_numpy(x).to(device), yt,
                         {**info.meta, "storage": "device"})
