"""A stranger's HDF5 file: it reads nothing outside itself, claims nothing it does not hold; streamed runs resume exactly."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import ganlab.data.hdf5 as hdf5
from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.data.base import DataError
from ganlab.data.hdf5 import StreamingHDF5Dataset, load_hdf5, read_spec
from ganlab.data.pack import pack_arrays
from ganlab.errors import RunError
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.training import Trainer, train

ROOT = Path(__file__).resolve().parents[1]
SECRET = b"root:x:0:0:root:/root:/bin/bash\n" * 8  # what a local file such as /etc/passwd would hand over
SHAPE = (4, 1, 4, 4)  # 64 bytes of images: the secret's first 64 bytes


def _attrs(f: h5py.File, class_names=()) -> None:
    f.attrs.update(ganlab_format=1, class_names=json.dumps(list(class_names)))


def _secret(tmp_path) -> str:
    p = tmp_path / "passwd"
    p.write_bytes(SECRET)
    return str(p)


def _refused_everywhere(path, match: str) -> None:
    """The spec, the in-memory load and the streaming reader all refuse it with one DataError."""
    with pytest.raises(DataError, match=match):
        read_spec(path)
    for budget in (2**30, 0):
        with pytest.raises(DataError, match=match):
            load_hdf5(path, "cpu", max_device_bytes=budget)
    with pytest.raises(DataError, match=match):
        StreamingHDF5Dataset(path, "cpu")


# ------------------------------------------------------------------------------ item 5: bytes outside the file
@pytest.mark.parametrize("which", ["images", "labels"])
def test_external_storage_pointing_at_a_local_file_is_refused(tmp_path, which):
    """A dataset whose bytes live in another file (h5py `external=`) is never read, images or labels."""
    path, secret = tmp_path / "ext.h5", _secret(tmp_path)
    with h5py.File(path, "w") as f:
        if which == "images":
            f.create_dataset("images", shape=SHAPE, dtype=np.uint8, external=[(secret, 0, 64)])
        else:
            f["images"] = np.zeros(SHAPE, np.uint8)
            f.create_dataset("labels", shape=(4,), dtype=np.uint8, external=[(secret, 0, 4)])
        _attrs(f, ["a", "b"] if which == "labels" else ())
    with h5py.File(path, "r") as f:  # the attack is real: h5py hands over the local file's bytes
        assert f[which][()].tobytes() == SECRET[: f[which].size]
    _refused_everywhere(path, rf"'{which}' keeps its bytes in external files .*only data stored inside the file")


@pytest.mark.parametrize("which", ["images", "labels"])
def test_virtual_dataset_mapping_another_file_is_refused(tmp_path, which):
    """A virtual dataset (h5py VirtualLayout) pointing into another HDF5 file is never read."""
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as g:
        g["x"] = np.frombuffer(SECRET[:64], np.uint8).reshape(SHAPE)
        g["y"] = np.ones(4, np.uint8)
    path = tmp_path / "virtual.h5"
    with h5py.File(path, "w") as f:
        shape = SHAPE if which == "images" else (4,)
        layout = h5py.VirtualLayout(shape=shape, dtype=np.uint8)
        layout[...] = h5py.VirtualSource(str(other), "x" if which == "images" else "y", shape=shape)
        f.create_virtual_dataset(which, layout)
        if which == "labels":
            f["images"] = np.zeros(SHAPE, np.uint8)
        _attrs(f, ["a", "b"] if which == "labels" else ())
    _refused_everywhere(path, rf"'{which}' is a virtual dataset that maps other files")


@pytest.mark.parametrize("how", ["external link", "soft link to an external link"])
def test_links_into_other_files_are_refused(tmp_path, how):
    """'images' resolved through an HDF5 external link (directly or via a soft link) would be another file's data."""
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as g:
        g["x"] = np.ones(SHAPE, np.uint8)
    path = tmp_path / "linked.h5"
    with h5py.File(path, "w") as f:
        if how == "external link":
            f["images"] = h5py.ExternalLink(str(other), "/x")
        else:
            f["elsewhere"] = h5py.ExternalLink(str(other), "/x")
            f["images"] = h5py.SoftLink("/elsewhere")
        _attrs(f)
    _refused_everywhere(path, "'images' (is a link into|resolves into) another file")


def test_only_built_in_filters_are_read(tmp_path):
    """gzip-chunked foreign files and packed files load as before; an unknown filter id (which makes HDF5
    look for plugin code to load) is refused."""
    x = np.arange(40 * 64, dtype=np.uint32).astype(np.uint8).reshape(40, 1, 8, 8)
    packed = str(tmp_path / "packed.h5")
    pack_arrays(x, np.arange(40) % 2, ["a", "b"], packed, "test")
    gz, scaleoffset = tmp_path / "gz.h5", tmp_path / "scaleoffset.h5"
    with h5py.File(gz, "w") as f:
        f.create_dataset("images", data=x, chunks=(4, 1, 8, 8), compression="gzip", shuffle=True)
        _attrs(f)
    with h5py.File(scaleoffset, "w") as f:
        f.create_dataset("images", data=x, chunks=(4, 1, 8, 8), scaleoffset=0)
        _attrs(f)
    for path in (packed, gz):
        assert torch.equal(load_hdf5(path, "cpu").x, torch.from_numpy(x))
        with load_hdf5(path, "cpu", max_device_bytes=0) as ds:
            assert torch.equal(ds.take(40)[0], load_hdf5(path, "cpu").take(40)[0])
    _refused_everywhere(scaleoffset, "compressed with HDF5 filter 6, which ganlab does not read")


# ------------------------------------------------------------------------------ item 12/10: claims the file cannot back
def _claim(path, n: int, side: int = 8, *, chunks=True, labels: bool = False, written: int = 0) -> str:
    """A few-KB file whose 'images' claims n images; only the first `written` are really stored."""
    with h5py.File(path, "w") as f:
        kw = {"chunks": (1, 1, min(side, 256), min(side, 256))} if chunks else {}
        ds = f.create_dataset("images", shape=(n, 1, side, side), dtype=np.uint8, **kw)
        if written:
            ds[:written] = 7
        if labels:
            f.create_dataset("labels", shape=(n,), dtype=np.int64, chunks=(1024,))
        _attrs(f, ["a", "b"] if labels else ())
    return str(path)


@pytest.mark.parametrize("claim", ["chunked, nothing stored", "chunked, half stored", "contiguous, nothing stored"])
def test_shapes_the_file_does_not_hold_are_refused(tmp_path, claim):
    """Chunks never written read back as zeros: a claim without data is refused, before anything is read."""
    if claim == "chunked, nothing stored":
        path = _claim(tmp_path / "c.h5", 10**7, labels=True)
    elif claim == "chunked, half stored":
        path = _claim(tmp_path / "c.h5", 40, written=20)
    else:
        path = _claim(tmp_path / "c.h5", 4000, side=32, chunks=False)
    assert Path(path).stat().st_size < 20_000
    _refused_everywhere(path, "damaged or truncated, or claims data it does not hold")


@pytest.mark.parametrize("claim,message", [
    ("side", r"images are 60000x60000 pixels; ganlab trains on images of at most 1024x1024"),
    ("count", r"'images' claims 1,000,000,000 images, more than the 100,000,000 ganlab reads"),
])
def test_the_cli_refuses_absurd_claims_in_one_line(tmp_path, capsys, claim, message):
    """`ganlab train --dataset hdf5:F` on a 60000x60000 or 10^9-image claim: one line on stderr, exit 2."""
    path = _claim(tmp_path / "c.h5", 2, side=60000) if claim == "side" else _claim(tmp_path / "c.h5", 10**9, labels=True)
    rc = main(["train", "--dataset", f"hdf5:{path}", "--steps", "2", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("ganlab: error: ") and re.search(message, err), err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


MEMORY_PROBE = """
import resource, sys
from ganlab.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
soft, hard = resource.getrlimit(resource.RLIMIT_AS)  # a backstop for the machine: old code took 19 GiB here
peak = int(open("/proc/self/status").read().split("VmPeak:")[1].split()[0]) * 1024
limit = peak + 3 * 2**30
resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
try:
    rc = main(sys.argv[1:])
except MemoryError:
    rc = "MemoryError"
print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB and /proc: Linux")
@pytest.mark.parametrize("n,message", [(10**9, "claims 1,000,000,000 images, more than"),  # the count bound
                                       (10**8, "has 0 of its 100,000,000 chunks stored")])  # the storage check
def test_a_huge_image_claim_allocates_nothing(tmp_path, n, message):
    """A 10 KB file claiming 10^9 (or 10^8) images and labels is refused before any array is sized by the claim:
    the process's peak memory grows by less than 200 MiB past the imports (today's code: 7.45 GiB and more)."""
    path = _claim(tmp_path / "huge.h5", n, labels=True)
    assert Path(path).stat().st_size < 20_000
    p = subprocess.run([sys.executable, "-c", MEMORY_PROBE, "train", "--dataset", f"hdf5:{path}", "--steps", "2",
                        "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    rc, grew_kib = p.stdout.split()[-2:]
    assert int(grew_kib) < 200 * 1024, f"peak memory grew by {int(grew_kib) / 1024:.0f} MiB after the imports"
    assert rc == "2" and p.stderr.count("\n") == 1 and message in p.stderr, p.stdout + p.stderr


# ------------------------------------------------------------------------------ item 9: streamed data resumes exactly
def _records(run: Run) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s")} for r in run.history()]


def test_a_streamed_hdf5_run_resumes_bit_identically(tmp_path, monkeypatch):
    """Train 30 steps straight vs. stop at the step-20 checkpoint and reopen: same records, same weights."""
    rng = np.random.default_rng(0)
    path = str(tmp_path / "tiny.h5")
    pack_arrays(rng.integers(0, 256, (64, 1, 8, 8), dtype=np.uint8), None, [], path, "test")
    monkeypatch.setattr(hdf5, "load_hdf5", functools.partial(hdf5.load_hdf5, max_device_bytes=0))  # a tiny file that streams
    cfg = RunConfig(dataset=f"hdf5:{path}", arch="mlp", loss="bce", g_hidden=(16,), d_hidden=(16,), latent_dim=4,
                    batch_size=8, steps=30, log_every=5, checkpoint_every=10, seed=3, device="cpu")
    straight = Run.create(tmp_path / "runs", cfg)
    holder: dict = {}
    assert train(cfg, straight, trainer=holder.setdefault("a", Trainer(cfg))) == "finished"
    assert isinstance(holder["a"].data, StreamingHDF5Dataset)
    broken = Run.create(tmp_path / "runs", cfg)
    state = train(cfg, broken, should_stop=lambda: holder["b"].step == 20, trainer=holder.setdefault("b", Trainer(cfg)))
    assert state == "stopped" and broken.last_checkpoint_step() == 20
    for t in holder.values():
        t.data.close()
    session = RunSession.reopen(broken.path)
    session.build()
    assert isinstance(session.trainer.data, StreamingHDF5Dataset) and session.trainer.step == 20
    assert session.run_training().state == "finished"
    assert [r["step"] for r in _records(broken)] == [5, 10, 15, 20, 25, 30]
    assert _records(broken) == _records(straight)
    a, b = straight.load_checkpoint(), broken.load_checkpoint()
    assert a["step"] == b["step"] == 30 and a["data"] == b["data"]
    for net in ("G", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])


def test_a_checkpoints_stream_state_is_checked(tmp_path):
    """A stream state that is not a seed and a batch count is refused in one sentence, never trusted."""
    path = str(tmp_path / "s.h5")
    pack_arrays(np.zeros((8, 1, 8, 8), np.uint8), None, [], path, "test")
    with load_hdf5(path, "cpu", max_device_bytes=0) as ds:
        for bad in ({"seed": -1, "position": 0}, {"seed": 1.5, "position": 0}, {"seed": 1}, [1, 2]):
            with pytest.raises(RunError, match="data stream state is not a seed and a batch count"):
                ds.load_state_dict(bad)
