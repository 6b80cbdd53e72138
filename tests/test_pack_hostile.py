"""Hostile input to `pack` (issue #15): a full disk, sources that are not files, outputs that would
destroy data, and images that cost far more memory than their size.

What can hang, crash or eat memory runs bounded: in a child process (a segfault is a negative
return code; RLIMIT_FSIZE fakes a full disk, RLIMIT_AS stops a runaway read) or under an alarm
that interrupts a blocking open.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganlab.data.pack as packmod
from ganlab.data.base import DataError
from ganlab.data.pack import PackOptions, iter_sources, pack, pack_arrays

ROOT = Path(__file__).resolve().parents[1]
OPTS = PackOptions(size=8)


def _images(folder: Path, n: int, side: int = 16) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def _child(code: str, *args, timeout: float = 90, prefix: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _results(p: subprocess.CompletedProcess) -> dict:
    """The child's JSON lines by case; a child killed by a signal (a segfault) is a failure here."""
    assert p.returncode >= 0, f"the process died from signal {-p.returncode}: {p.stderr[-2000:]}"
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return {r["case"]: r for r in lines}


@contextmanager
def _deadline(seconds: float):
    """Fail if the block runs longer; the alarm interrupts a blocking open (a FIFO) in this thread."""
    def fire(signum, frame):
        pytest.fail(f"still running after {seconds} s (blocked?)")  # a BaseException: nothing swallows it
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _leftovers(folder: Path, *keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


# --- 1. a full disk ---------------------------------------------------------------------------

DISK_CHILD = """
import json, os, resource, signal, sys
import numpy as np
from ganlab.data.base import DataError
from ganlab.data.pack import PackOptions, pack, pack_arrays
src, out = sys.argv[1:3]
fresh, existing = os.path.join(out, "new.h5"), os.path.join(out, "old.h5")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
cases = {"pack": lambda: pack(src, fresh, PackOptions(size=32), workers=2),
         "pack_arrays": lambda: pack_arrays(np.zeros((500, 3, 32, 32), np.uint8), None, [], fresh, "zeros"),
         "pack over an existing OUT": lambda: pack(src, existing, PackOptions(size=32), workers=2, overwrite=True)}
for case, run in cases.items():
    try:
        run()
        error = None
    except DataError as e:
        error = str(e)
    print(json.dumps({"case": case, "error": error}), flush=True)
"""


@pytest.fixture(scope="module")
def disk_full(tmp_path_factory) -> tuple[dict, Path, Path]:
    """One child packs 100 images (300 KB at 32 px) under a 200 KB file-size limit, three ways."""
    tmp = tmp_path_factory.mktemp("disk")
    src, out = _images(tmp / "src", 100), tmp / "out"
    out.mkdir()
    (out / "old.h5").write_bytes(b"old")
    p = _child(DISK_CHILD, src, out)
    return _results(p), out, out / "old.h5"


@pytest.mark.parametrize("case", ["pack", "pack_arrays", "pack over an existing OUT"])
def test_file_size_limit_while_writing_is_a_disk_full_error(disk_full, case):
    """The limit is hit mid-write: a DataError saying so, the process alive, no temp file, OUT untouched."""
    results, out, old = disk_full
    assert case in results, "the child stopped before this case"
    error = results[case]["error"]
    assert error and "the disk is full" in error and "file-size limit" in error and "needed" in error, error
    assert _leftovers(out) == ["old.h5"] and old.read_bytes() == b"old"


TMPFS_CHILD = """
import json, os, shutil, sys
from ganlab.data.base import DataError
from ganlab.data.pack import PackOptions, pack
src, mnt = sys.argv[1:3]
open(os.path.join(mnt, "old.h5"), "wb").write(b"old")

def run(case):
    try:
        pack(src, os.path.join(mnt, "old.h5"), PackOptions(size=64), workers=2, overwrite=True)
        error = None
    except DataError as e:
        error = str(e)
    print(json.dumps({"case": case, "error": error, "left": sorted(os.listdir(mnt)),
                      "old": open(os.path.join(mnt, "old.h5"), "rb").read().decode()}), flush=True)

run("checked before writing")
shutil.disk_usage = lambda path: shutil._ntuple_diskusage(2**40, 0, 2**40)  # the check is fooled: a real ENOSPC
run("full while writing")
"""


def test_full_tmpfs_refused_up_front_or_failing_mid_write(tmp_path):
    """A 1 MB tmpfs (in a private mount namespace): 100 images at 64 px need ~1.3 MB."""
    src, mnt = _images(tmp_path / "src", 100), tmp_path / "mnt"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {mnt}"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip("cannot mount a tmpfs here (no unshare or no user namespaces)")
    p = _child(TMPFS_CHILD, src, mnt, prefix=("unshare", "-rm", "sh", "-c",
                                              f'mount -t tmpfs -o size=1m tmpfs {mnt} && exec "$0" "$@"'))
    results = _results(p)
    before, during = results.get("checked before writing"), results.get("full while writing")
    assert before and during, p.stderr[-2000:]
    assert "the disk is too full" in before["error"] and "needs about" in before["error"], before
    assert "the disk is full" in during["error"] and "stopped after" in during["error"], during
    for r in (before, during):
        assert r["left"] == ["old.h5"] and r["old"] == "old"


# --- 2. sources that are not regular files --------------------------------------------------

ZERO_CHILD = """
import json, os, resource, sys
from ganlab.data.base import DataError
from ganlab.data.pack import PackOptions, pack
vm = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, resource.RLIM_INFINITY))  # a runaway read stops at 1 GB
for case, src in zip(("as SRC", "inside a folder"), sys.argv[1:3]):
    try:
        r = pack(src, os.path.join(sys.argv[3], case.replace(" ", "_") + ".h5"), PackOptions(size=8))
        out = {"skipped": r.skipped}
    except (DataError, MemoryError) as e:
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps({"case": case, **out,
                      "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)
"""


def test_dev_zero_is_refused_as_src_and_skipped_in_a_folder(tmp_path):
    """/dev/zero never ends: as SRC it is refused before a byte is read; a device node in a folder is skipped."""
    folder = _images(tmp_path / "src", 1)
    try:
        os.mknod(folder / "zero.png", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
    except OSError:
        pytest.skip("cannot make a device node here (not root)")
    p = _child(ZERO_CHILD, "/dev/zero", folder, tmp_path, timeout=60)
    results = _results(p)
    assert "DataError: /dev/zero is a character device, not a folder" in results["as SRC"].get("error", ""), results
    inside = results["inside a folder"]
    assert inside.get("skipped") == [["zero.png", "not a regular file: a character device"]], inside


def test_fifo_as_src_is_refused_without_blocking(tmp_path):
    """A FIFO with no writer: open would block forever; it is refused at once instead."""
    fifo = tmp_path / "images.zip"
    os.mkfifo(fifo)
    with _deadline(10), pytest.raises(DataError, match=r"images.zip is a FIFO \(named pipe\), not a folder"):
        pack(fifo, tmp_path / "o.h5", OPTS)
    assert _leftovers(tmp_path, fifo) == []


def test_fifo_inside_a_folder_is_skipped_without_blocking(tmp_path):
    """A FIFO among the images is skipped with its reason (listing and reading); the rest is packed."""
    src = _images(tmp_path / "src", 2)
    os.mkfifo(src / "pipe.png")
    with _deadline(10):
        skipped = []
        assert [n for n, _ in iter_sources(src, on_skip=lambda n, r: skipped.append((n, r)))] == ["000.png", "001.png"]
        r = pack(src, tmp_path / "o.h5", OPTS, workers=2)
    assert skipped == [("pipe.png", "not a regular file: a FIFO (named pipe)")]
    assert r.n_images == 2 and r.skipped == skipped


def test_file_swapped_for_a_fifo_after_listing_is_skipped_without_blocking(tmp_path, monkeypatch):
    """Listed as a regular file, a FIFO by the time it is read: the open never blocks, the file is skipped."""
    src = _images(tmp_path / "src", 3)
    swapped = src / "001.png"
    real_names = packmod.sources._FolderSource.names

    def names_then_swap(self):
        names = real_names(self)
        swapped.unlink()
        os.mkfifo(swapped)
        return names

    monkeypatch.setattr(packmod.sources._FolderSource, "names", names_then_swap)
    with _deadline(10):
        r = pack(src, tmp_path / "o.h5", OPTS, workers=1)
    assert r.n_images == 2 and r.skipped == [("001.png", "not a regular file: a FIFO (named pipe)")]


# --- 3. outputs that would destroy data -------------------------------------------------------

def _zip(path: Path, n: int = 2) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for i, f in enumerate(sorted(_images(path.parent / "zsrc", n).iterdir())):
            zf.write(f, f"{i}.png")
    return path


def test_out_that_is_the_source_is_refused_even_with_overwrite(tmp_path):
    """`pack SRC.zip SRC.zip`, or OUT a symlink to SRC: refused, SRC unchanged."""
    z = _zip(tmp_path / "a.zip")
    before = z.read_bytes()
    (tmp_path / "link.h5").symlink_to(z)
    for out in (z, tmp_path / "link.h5"):
        with pytest.raises(DataError, match="is the source being packed"):
            pack(z, out, OPTS, overwrite=True)
    assert z.read_bytes() == before


def test_out_inside_a_folder_source_is_refused(tmp_path):
    """`pack DIR DIR/a.gif` (or any new file under DIR): refused, the image unchanged."""
    src = _images(tmp_path / "src", 2)
    Image.new("RGB", (4, 4)).save(src / "a.gif")
    before = (src / "a.gif").read_bytes()
    for out in (src / "a.gif", src / "sub" / "new.h5"):
        with pytest.raises(DataError, match="is inside the folder being packed"):
            pack(src, out, OPTS, overwrite=True)
    assert (src / "a.gif").read_bytes() == before and not (src / "sub").exists()


def test_existing_out_is_replaced_only_with_overwrite(tmp_path):
    """pack and pack_arrays refuse an existing OUT, and replace it (atomically) when told to."""
    src = _images(tmp_path / "src", 2)
    out = tmp_path / "o.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(DataError, match="already exists.*--overwrite"):
        pack(src, out, OPTS)
    x = np.zeros((3, 1, 4, 4), np.uint8)
    with pytest.raises(DataError, match="already exists"):
        pack_arrays(x, None, [], out, "zeros")
    assert out.read_bytes() == b"keep me"
    assert pack(src, out, OPTS, overwrite=True).n_images == 2
    assert pack_arrays(x, None, [], out, "zeros", overwrite=True).n_images == 3
    assert _leftovers(tmp_path, src) == ["o.h5"]


def test_a_file_named_like_the_temp_file_is_never_touched(tmp_path):
    """`pack OUT.tmp OUT`: the temp file is a new name, so the source is read whole and kept."""
    z = _zip(tmp_path / "data.h5.tmp", n=3)
    before = z.read_bytes()
    r = pack(z, tmp_path / "data.h5", OPTS)
    assert r.n_images == 3 and z.read_bytes() == before


# --- 4. memory: wide modes, concurrent decodes, bytes read ahead ------------------------------

def _png16(path: Path, w: int, h: int, value: int = 0x1234) -> Path:
    """A real 16-bit grayscale PNG of one value: w*h pixels in a few tens of KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row, z = b"\x00" + struct.pack(">H", value) * w, zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


AS_CHILD = """
import json, resource, sys
from ganlab.data.pack import PackOptions, decode_image
data = open(sys.argv[1], "rb").read()
# an address-space cap above what is mapped now: unlike an RSS peak, it does not move when the kernel
# drops torch's file-backed pages under memory pressure (a busy CI box), so the bound means the same anywhere
mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + int(sys.argv[2]), resource.RLIM_INFINITY))
try:
    a = decode_image(data, PackOptions(size=64))
    print(json.dumps({"case": "decode", "ok": True, "value": int(a[0, 0, 0])}))
except MemoryError as e:
    print(json.dumps({"case": "decode", "ok": False, "error": str(e)[:200]}))
"""


def test_16_bit_png_at_the_pixel_cap_decodes_in_bounded_memory(tmp_path):
    """A ~90 KB 16-bit PNG of 40M pixels (the default cap) decodes within 6 bytes a pixel of new address
    space (it needs ~4; the old float64 conversion failed even with 24), and 0x1234 scales to 0x1234 // 257 = 18."""
    side = int(PackOptions().max_pixels ** 0.5)
    png = _png16(tmp_path / "wide.png", side, side)
    r = _results(_child(AS_CHILD, png, 6 * side * side))["decode"]
    assert r["ok"], f"decoding needed more than 6 bytes a pixel: {r['error']}"
    assert r["value"] == 18


def test_pixels_in_flight_cap_the_concurrent_decodes(tmp_path, monkeypatch):
    """Four threads, 100x100 images: with room for one image's pixels, one decode runs at a time;
    with the default room, several do (so the count below can see concurrency)."""
    src = _images(tmp_path / "src", 8, side=100)
    active, peak, lock = [0], [0], threading.Lock()
    real_resize = Image.Image.resize

    def slow_resize(self, *a, **k):  # runs while the decode holds its pixels
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        try:
            return real_resize(self, *a, **k)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(Image.Image, "resize", slow_resize)
    for room, expected in ((15_000, lambda p: p == 1), (PackOptions().max_pixels_in_flight, lambda p: p > 1)):
        peak[0] = 0
        r = pack(src, tmp_path / f"{room}.h5", PackOptions(size=8, max_pixels_in_flight=room), workers=4)
        assert r.n_images == 8 and expected(peak[0]), (room, peak[0])


def test_bytes_read_ahead_are_capped(tmp_path, monkeypatch):
    """Slow decodes on four threads: the reader stops ~max_bytes_in_flight ahead, not 16 files ahead."""
    src = _images(tmp_path / "src", 24, side=60)  # ~10.8 KB each (noise does not compress)
    biggest = max(f.stat().st_size for f in src.iterdir())
    outstanding, peak, lock = [0], [0], threading.Lock()
    real_read, real_decode = packmod.sources._FolderSource.read, packmod._decode_or_reason

    def read(self, name):
        data = real_read(self, name)
        with lock:
            outstanding[0] += len(data)
            peak[0] = max(peak[0], outstanding[0])
        return data

    def slow_decode(data, *a):
        time.sleep(0.02)
        out = real_decode(data, *a)
        with lock:
            outstanding[0] -= len(data)
        return out

    monkeypatch.setattr(packmod.sources._FolderSource, "read", read)
    monkeypatch.setattr(packmod, "_decode_or_reason", slow_decode)
    r = pack(src, tmp_path / "o.h5", PackOptions(size=8, max_bytes_in_flight=25_000), workers=4)
    assert r.n_images == 24 and peak[0] <= 25_000 + biggest, peak[0]
