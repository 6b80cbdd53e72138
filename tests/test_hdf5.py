"""`hdf5:<path>` datasets: specs from metadata, in-memory and streaming readers, damaged files."""

from __future__ import annotations

import gc
import json

import h5py
import numpy as np
import pytest
import torch

from ganlab.data.base import DataError, TensorDataset
from ganlab.data.hdf5 import StreamingHDF5Dataset, load_hdf5, read_spec
from ganlab.data.pack import pack_arrays

N, K = 50, 3  # images, classes


def _make(tmp_path, size: int = 8, channels: int = 3, labels: bool = True) -> str:
    """Image i is filled with the value i (so a batch tells which images it holds); label i % K."""
    x = np.broadcast_to(np.arange(N, dtype=np.uint8)[:, None, None, None], (N, channels, size, size)).copy()
    path = str(tmp_path / f"d{size}-{channels}-{labels}.h5")
    pack_arrays(x, np.arange(N) % K if labels else None, ["a", "b", "c"] if labels else [], path, "test")
    return path


def _index(x: torch.Tensor) -> torch.Tensor:
    """Back from [-1, 1] floats to the image index each image was filled with."""
    return ((x[:, 0, 0, 0] + 1) * 127.5).round().long()


def test_read_spec_from_metadata(tmp_path):
    """Shape, classes and value range come from the file's attributes."""
    spec = read_spec(_make(tmp_path))
    assert (spec.kind, spec.shape, spec.num_classes, spec.class_names) == ("images", (3, 8, 8), 3, ("a", "b", "c"))
    assert spec.value_range == (-1.0, 1.0)
    assert read_spec(_make(tmp_path, labels=False)).num_classes == 0


def test_in_memory_when_it_fits(tmp_path):
    """A small file becomes one uint8 TensorDataset named hdf5:<path>."""
    path = _make(tmp_path)
    ds = load_hdf5(path, "cpu")
    assert isinstance(ds, TensorDataset) and ds.name == f"hdf5:{path}" and ds.x.dtype == torch.uint8
    x, y = ds.batch(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 3, 8, 8) and -1 <= x.min() and x.max() <= 1
    assert torch.equal(y, _index(x) % K) and ds.meta["storage"] == "device"


@pytest.mark.parametrize("size", [8, 32])  # 16 images per chunk, and one
def test_streaming_batches(tmp_path, size):
    """Batches have the right shape and range, labels match their images, the file order is mixed."""
    with load_hdf5(_make(tmp_path, size=size), "cpu", max_device_bytes=0) as ds:
        assert isinstance(ds, StreamingHDF5Dataset) and len(ds) == N and ds.meta["reads"] == "preadv"
        assert ds.meta["chunk_rows"] == (16 if size == 8 else 1)
        g = torch.Generator().manual_seed(0)
        seen = set()
        for _ in range(10):
            x, y = ds.batch(20, g)
            assert x.shape == (20, 3, size, size) and x.dtype == torch.float32
            assert -1 <= x.min() and x.max() <= 1 and torch.equal(y, _index(x) % K)
            u = _index(x).to(torch.uint8)  # values exactly as TensorDataset scales them
            assert torch.equal(x[:, 0, 0, 0], u.float().mul_(2 / 255).add_(-1))
            assert x[:, :, 0, 0].std(dim=1).max() == 0  # each image is one constant
            seen |= set(_index(x).tolist())
        assert len(seen) > N // 2


def test_streaming_is_reproducible(tmp_path):
    """The same generator seed gives the same batches, on a fresh or a reused dataset."""
    path = _make(tmp_path, size=32)
    runs = []
    with load_hdf5(path, "cpu", max_device_bytes=0) as ds:
        for _ in range(2):
            g = torch.Generator().manual_seed(7)
            runs.append([_index(ds.batch(8, g)[0]) for _ in range(4)])
        runs.append([_index(ds.batch(5, g)[0]) for _ in range(2)])  # a new n restarts cleanly
    with load_hdf5(path, "cpu", max_device_bytes=0) as ds:
        g = torch.Generator().manual_seed(7)
        runs.append([_index(ds.batch(8, g)[0]) for _ in range(4)])
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[3]))
    assert [len(b) for b in runs[2]] == [5, 5]


def test_take_matches_in_memory(tmp_path):
    """take(n, seed) picks the same images whichever reader holds the file."""
    path = _make(tmp_path)
    mem = load_hdf5(path, "cpu")
    with load_hdf5(path, "cpu", max_device_bytes=0) as ds:
        (a, ya), (b, yb) = mem.take(12, seed=3), ds.take(12, seed=3)
    assert torch.equal(a, b) and torch.equal(ya, yb)


def test_thread_stops_on_close_and_on_garbage_collection(tmp_path):
    """close() stops the prefetch thread; so does dropping the last reference."""
    path = _make(tmp_path)
    ds = load_hdf5(path, "cpu", max_device_bytes=0)
    ds.batch(4, torch.Generator().manual_seed(0))
    t = ds._prefetch.thread
    ds.close()
    assert not t.is_alive()
    with pytest.raises(DataError, match="closed"):
        ds.batch(4, torch.Generator())
    ds = load_hdf5(path, "cpu", max_device_bytes=0)
    ds.batch(4, torch.Generator().manual_seed(0))
    t = ds._prefetch.thread
    del ds
    gc.collect()
    t.join(timeout=5)
    assert not t.is_alive()


def test_compressed_foreign_file_uses_h5py_reads(tmp_path):
    """A file whose chunks are compressed is still read correctly (through h5py)."""
    path = str(tmp_path / "gz.h5")
    x = np.broadcast_to(np.arange(N, dtype=np.uint8)[:, None, None, None], (N, 1, 8, 8))
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=x, chunks=(4, 1, 8, 8), compression="gzip")
        f.create_dataset("labels", data=np.arange(N) % K)
        f.attrs.update(ganlab_format=1, class_names=json.dumps(["a", "b", "c"]))
    with load_hdf5(path, "cpu", max_device_bytes=0) as ds:
        assert ds.meta["reads"] == "h5py"
        x, y = ds.batch(10, torch.Generator().manual_seed(1))
        assert x.shape == (10, 1, 8, 8) and torch.equal(y, _index(x) % K)


def test_missing_and_foreign_files(tmp_path):
    """Missing, not HDF5, HDF5 without our attributes, newer format, bad images: one clear line each."""
    with pytest.raises(DataError, match=r"file not found: .* — create it with `python -m ganlab pack"):
        read_spec(tmp_path / "nope.h5")
    (tmp_path / "t.h5").write_text("hello")
    with pytest.raises(DataError, match="is not an HDF5 file"):
        load_hdf5(tmp_path / "t.h5", "cpu")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["images"] = np.zeros((2, 3, 4, 4), np.uint8)
    with pytest.raises(DataError, match="not a ganlab dataset"):
        read_spec(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5", "a") as f:
        f.attrs["ganlab_format"] = 2
    with pytest.raises(DataError, match="newer ganlab"):
        read_spec(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5", "a") as f:
        f.attrs["ganlab_format"] = 1
        del f["images"]
        f["images"] = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(DataError, match="'images' must be a non-empty uint8"):
        load_hdf5(tmp_path / "plain.h5", "cpu")


@pytest.mark.parametrize("keep", [0.999, 0.9, 0.5, 0.1, 0.001])
def test_truncated_file_is_a_data_error(tmp_path, keep):
    """A file cut anywhere (an interrupted copy or upload) gives DataError, never a traceback."""
    path = _make(tmp_path, size=32)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match="damaged or truncated|not an HDF5 file"):
        read_spec(path)
    for budget in (2**30, 0):
        with pytest.raises(DataError):
            load_hdf5(path, "cpu", max_device_bytes=budget)
