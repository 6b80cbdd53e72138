"""`ganlab pack`: folders and archives of images into one HDF5 file, safely and atomically."""

from __future__ import annotations

import io
import json
import stat
import struct
import subprocess
import sys
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from ganlab.data.base import DataError
from ganlab.data.pack import PackOptions, decode_image, iter_sources, pack, pack_arrays

OPTS = PackOptions(size=8)


def _save(path: Path, size=(12, 10), mode="RGB", color=(200, 30, 30), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt)
    return path


def _png_bytes(size=(6, 6), color=(0, 128, 255)) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", size, color).save(b, "PNG")
    return b.getvalue()


def _png_bomb(path: Path, w: int = 20000, h: int = 20000) -> Path:
    """A real 1-bit PNG of w x h pixels (all black) that compresses to a few tens of KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row, z = b"\x00" * (1 + (w + 7) // 8), zlib.compressobj(1)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """cats/ and dogs/ (nested), PNG+JPEG+BMP, grayscale and RGBA inputs, one corrupt file."""
    src = tmp_path / "src"
    _save(src / "cats" / "a.png")
    _save(src / "cats" / "deep" / "b.jpg", fmt="JPEG")
    _save(src / "dogs" / "c.bmp", mode="L", color=100)
    _save(src / "dogs" / "d.png", mode="RGBA", color=(0, 0, 0, 0))  # fully transparent
    (src / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    (src / "dogs" / "notes.txt").write_text("not an image: ignored, not skipped")
    (src / "cats" / ".DS_Store").write_bytes(b"\0")
    return src


def test_folder_shapes_labels_and_attributes(tree, tmp_path):
    """Nested folders of mixed formats: images, labels, class names and attributes."""
    out = tmp_path / "out.h5"
    r = pack(tree, out, PackOptions(size=8, labels="from-folders"), workers=2)
    assert (r.n_images, r.n_skipped, r.class_names) == (4, 1, ("cats", "dogs"))
    assert r.skipped[0][0] == "dogs/broken.jpg" and r.images_per_s > 0
    with h5py.File(out) as f:
        assert f["images"].shape == (4, 3, 8, 8) and f["images"].dtype == np.uint8
        names = [n.decode() for n in f["filenames"][()]]
        assert dict(zip(names, f["labels"][()].tolist())) == {
            "cats/a.png": 0, "cats/deep/b.jpg": 0, "dogs/c.bmp": 1, "dogs/d.png": 1}
        a = f.attrs
        assert a["ganlab_format"] == 1 and json.loads(a["class_names"]) == ["cats", "dogs"]
        assert (a["size"], a["channels"], a["crop"], a["n_skipped"]) == (8, 3, "center", 1)
        assert json.loads(a["options"])["labels"] == "from-folders"
        assert json.loads(a["skipped"])[0][0] == "dogs/broken.jpg" and a["source"] == str(tree)
        assert "T" in a["created"]


def test_modes_rgba_on_white_gray_to_rgb_rgb_to_l(tree, tmp_path):
    """RGBA is composited on white; L becomes 3 equal channels; channels=1 gives luma."""
    pack(tree, tmp_path / "c3.h5", OPTS)
    with h5py.File(tmp_path / "c3.h5") as f:
        x = dict(zip([n.decode() for n in f["filenames"][()]], f["images"][()]))
    assert (x["dogs/d.png"] == 255).all()
    assert (x["dogs/c.bmp"] == 100).all()
    r = pack(tree, tmp_path / "c1.h5", PackOptions(size=8, channels=1))
    with h5py.File(tmp_path / "c1.h5") as f:
        x1 = dict(zip([n.decode() for n in f["filenames"][()]], f["images"][()]))
    assert r.n_images == 4 and x1["cats/a.png"].shape == (1, 8, 8)
    assert abs(int(x1["cats/a.png"][0, 4, 4]) - 81) <= 1  # 0.299*200 + 0.587*30 + 0.114*30


def test_center_crop_versus_squash(tmp_path):
    """crop=center keeps the middle square; crop=none squashes the whole image."""
    im = np.zeros((20, 60, 3), np.uint8)
    im[:, :20, 0] = im[:, 20:40, 1] = im[:, 40:, 2] = 255  # red | green | blue
    (tmp_path / "s").mkdir()
    Image.fromarray(im).save(tmp_path / "s" / "wide.png")
    pack(tmp_path / "s", tmp_path / "c.h5", OPTS)
    pack(tmp_path / "s", tmp_path / "n.h5", PackOptions(size=8, crop="none"))
    with h5py.File(tmp_path / "c.h5") as f, h5py.File(tmp_path / "n.h5") as g:
        c, n = f["images"][0], g["images"][0]
    assert (c[1] == 255).all() and (c[0] == 0).all()
    assert n[0, 4, 0] == 255 and n[1, 4, 4] == 255 and n[2, 4, 7] == 255


def test_labels_need_class_folders(tmp_path):
    """Images directly in SRC have no class: a clear error, nothing written."""
    _save(tmp_path / "s" / "loose.png")
    _save(tmp_path / "s" / "cats" / "a.png")
    with pytest.raises(DataError, match="not inside a class folder.*loose.png"):
        pack(tmp_path / "s", tmp_path / "o.h5", PackOptions(size=8, labels="from-folders"))
    assert not (tmp_path / "o.h5").exists()


def test_zip_wrapper_folder_and_unsafe_members(tmp_path):
    """A zip's single wrapping folder is not a class; `..`, absolute and link members are skipped."""
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("data/cats/1.png", _png_bytes())
        zf.writestr("data/dogs/2.png", _png_bytes())
        zf.writestr("../evil.png", _png_bytes())
        zf.writestr("/abs.png", _png_bytes())
        zf.writestr("__MACOSX/data/._1.png", b"junk")
        link = zipfile.ZipInfo("data/cats/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    r = pack(z, tmp_path / "o.h5", PackOptions(size=8, labels="from-folders"))
    assert (r.n_images, r.class_names) == (2, ("cats", "dogs"))
    reasons = dict(r.skipped)
    assert "unsafe path" in reasons["../evil.png"] and "unsafe path" in reasons["/abs.png"]
    assert reasons["data/cats/link.png"] == "link" and len(reasons) == 3


def test_tar_gz_links_devices_and_traversal(tmp_path):
    """A .tar.gz is read in memory; symlinks, hard links, devices and `..` are never read."""
    t = tmp_path / "a.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        for name in ("ok/1.png", "../evil.png"):
            data = _png_bytes()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, kind in (("sym.png", tarfile.SYMTYPE), ("hard.png", tarfile.LNKTYPE), ("dev.png", tarfile.CHRTYPE)):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, "/etc/passwd"
            tf.addfile(ti)
    names = []
    got = dict(iter_sources(t, on_skip=lambda n, r: names.append((n, r))))
    assert list(got) == ["ok/1.png"]
    assert dict(names) == {"../evil.png": "unsafe path: '..'", "sym.png": "link", "hard.png": "link",
                           "dev.png": "special file"}
    r = pack(t, tmp_path / "o.h5", OPTS)
    assert r.n_images == 1 and r.n_skipped == 4


def test_archive_count_and_size_caps(tmp_path):
    """Too many members or too many uncompressed bytes: refused before anything is decoded."""
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"{i}.png", _png_bytes())
        zf.writestr("zeros.bin", b"\0" * 100_000)  # compresses to ~100 bytes
    with pytest.raises(DataError, match="more than 2 files"):
        pack(z, tmp_path / "o.h5", PackOptions(size=8, max_files=2))
    with pytest.raises(DataError, match="max_total_bytes"):
        pack(z, tmp_path / "o.h5", PackOptions(size=8, max_total_bytes=50_000))
    with pytest.raises(DataError, match="3 files skipped: 0.png: .* bytes, over max_file_bytes = 10"):
        pack(z, tmp_path / "o.h5", PackOptions(size=8, max_file_bytes=10))
    t = tmp_path / "a.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        ti = tarfile.TarInfo("zeros.png")
        ti.size = 200_000
        tf.addfile(ti, io.BytesIO(b"\0" * ti.size))
    with pytest.raises(DataError, match="max_total_bytes"):
        pack(t, tmp_path / "o.h5", PackOptions(size=8, max_total_bytes=50_000))
    assert not (tmp_path / "o.h5").exists()


def test_decompression_bombs_are_skipped(tmp_path):
    """A tiny PNG claiming 20000x20000 pixels, and an image over max_pixels, are skipped."""
    (tmp_path / "s").mkdir()
    _png_bomb(tmp_path / "s" / "bomb.png")
    _save(tmp_path / "s" / "big.png", size=(100, 100))
    _save(tmp_path / "s" / "ok.png", size=(20, 20))
    r = pack(tmp_path / "s", tmp_path / "o.h5", PackOptions(size=8, max_pixels=5000))
    reasons = dict(r.skipped)
    assert r.n_images == 1 and set(reasons) == {"bomb.png", "big.png"}
    assert all(v.startswith("decompression bomb") for v in reasons.values())
    assert "over max_pixels = 5000" in reasons["big.png"]


def test_importing_pack_leaves_the_warning_filters_alone():
    """The dashboard's server imports this: its warning policy must stay its own."""
    code = ("import warnings, numpy, h5py, PIL.Image, ganlab.data; before = list(warnings.filters); "
            "import ganlab.data.pack; print(warnings.filters == before, "
            "any(f[2] is PIL.Image.DecompressionBombWarning for f in warnings.filters))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("action", ["ignore", "error"])
def test_over_pillows_limit_is_refused_whatever_the_warning_filters(tmp_path, monkeypatch, action):
    """Between Pillow's limit and twice it Pillow only warns; the image is refused all the same,
    by decode_image and by pack (decoding on 2 threads), and no filter is left changed."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    src = tmp_path / "s"
    for i in range(4):
        _save(src / f"bomb{i}.png", size=(90, 90))  # 8100 pixels: over 5000, under 2 * 5000
        _save(src / f"ok{i}.png", size=(20, 20))
    with warnings.catch_warnings():
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        before = list(warnings.filters)
        data = (src / "bomb0.png").read_bytes()
        expected = Image.DecompressionBombWarning if action == "error" else Image.DecompressionBombError
        with pytest.raises(expected, match="8100"):
            decode_image(data, PackOptions(size=8))
        if action != "error":
            with pytest.raises(Image.DecompressionBombError, match="over Pillow's limit"):
                decode_image(data, PackOptions(size=8))
        r = pack(src, tmp_path / "o.h5", PackOptions(size=8, max_pixels=5000), workers=2)
        assert warnings.filters == before
    reasons = dict(r.skipped)
    assert r.n_images == 4 and set(reasons) == {f"bomb{i}.png" for i in range(4)}
    assert all(v.startswith("decompression bomb") and "8100" in v for v in reasons.values())


def test_decode_image_refuses_over_max_pixels_before_decoding():
    """The size is read from the header (Image.open is lazy): a clear error, no pixels decoded."""
    data = _png_bytes(size=(20, 20))
    with pytest.raises(Image.DecompressionBombError, match="20x20 = 400 pixels, over max_pixels = 100"):
        decode_image(data, PackOptions(size=8, max_pixels=100))
    assert decode_image(data, PackOptions(size=8, max_pixels=400)).shape == (3, 8, 8)


def test_empty_result_is_refused_and_leaves_nothing(tmp_path):
    """Only unreadable files: a message naming them; no OUT, no temp file, an old OUT kept (even with overwrite)."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "o.h5"
    with pytest.raises(DataError, match=r"no readable images found in .* \(1 files skipped: x.png"):
        pack(tmp_path / "s", out, OPTS)
    assert list(tmp_path.iterdir()) == [tmp_path / "s"]
    out.write_bytes(b"old")
    with pytest.raises(DataError, match="no readable images found"):
        pack(tmp_path / "s", out, OPTS, overwrite=True)
    assert out.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [out, tmp_path / "s"]


def test_success_is_atomic_and_reports_progress(tree, tmp_path):
    """The output appears whole, no temp file is left, and progress ends at (total, total)."""
    calls = []
    out = tmp_path / "sub" / "o.h5"
    pack(tree, out, OPTS, progress=lambda d, t: calls.append((d, t)), workers=1)
    assert list(out.parent.iterdir()) == [out]
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)


def test_folder_symlink_out_of_src_is_skipped(tmp_path):
    """A symlink inside SRC that points outside it is not followed."""
    _save(tmp_path / "outside.png")
    _save(tmp_path / "s" / "in.png")
    (tmp_path / "s" / "link.png").symlink_to(tmp_path / "outside.png")
    (tmp_path / "s" / "inlink.png").symlink_to(tmp_path / "s" / "in.png")
    skipped = []
    names = [n for n, _ in iter_sources(tmp_path / "s", on_skip=lambda n, r: skipped.append((n, r)))]
    assert names == ["in.png", "inlink.png"] and skipped == [("link.png", "symlink points outside SRC")]


def test_file_names_that_are_not_utf8(tmp_path):
    """A Linux file name with invalid UTF-8 bytes is stored readably, not a crash."""
    src = tmp_path / "s"
    src.mkdir()
    try:
        (src / "caf\udce9.png").write_bytes(_png_bytes())  # the byte 0xE9 alone: not UTF-8
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system wants UTF-8 names")
    pack(src, tmp_path / "o.h5", OPTS)
    with h5py.File(tmp_path / "o.h5") as f:
        assert f["filenames"][0].decode() == "caf\ufffd.png"


def test_bad_sources_give_clear_errors(tmp_path):
    """A missing path, a file that is no archive, a truncated .tar.gz, bad options."""
    with pytest.raises(DataError, match="source not found"):
        pack(tmp_path / "nope", tmp_path / "o.h5", OPTS)
    (tmp_path / "f.txt").write_text("hello " * 200)
    with pytest.raises(DataError, match="is not a folder, a .zip or a .tar"):
        pack(tmp_path / "f.txt", tmp_path / "o.h5", OPTS)
    t = tmp_path / "a.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        for i in range(5):
            data = np.random.default_rng(i).bytes(5000)
            ti = tarfile.TarInfo(f"{i}.png")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    t.write_bytes(t.read_bytes()[:-3000])
    with pytest.raises(DataError, match="is damaged or truncated"):
        pack(t, tmp_path / "o.h5", OPTS)
    with pytest.raises(DataError, match="channels must be 1 or 3"):
        pack(tmp_path, tmp_path / "o.h5", PackOptions(channels=2))
    assert not (tmp_path / "o.h5").exists()


def test_pack_arrays_same_format(tmp_path):
    """In-memory datasets (digits, MNIST...) land in the same layout as packed folders."""
    x = np.arange(10 * 1 * 4 * 4, dtype=np.uint8).reshape(10, 1, 4, 4)
    y = np.arange(10) % 3
    r = pack_arrays(x, y, ["a", "b", "c"], tmp_path / "d.h5", "digits")
    assert (r.n_images, r.class_names) == (10, ("a", "b", "c"))
    with h5py.File(tmp_path / "d.h5") as f:
        assert np.array_equal(f["images"][()], x) and np.array_equal(f["labels"][()], y)
        assert f.attrs["source"] == "digits" and json.loads(f.attrs["class_names"]) == ["a", "b", "c"]
    with pytest.raises(DataError, match="labels must be"):
        pack_arrays(x, y + 5, ["a", "b", "c"], tmp_path / "e.h5", "digits")
    with pytest.raises(DataError, match="uint8"):
        pack_arrays(x.astype(np.float32), None, [], tmp_path / "e.h5", "digits")
