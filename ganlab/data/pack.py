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
the member count and the uncompressed size are capped; images are opened by a fixed list
of Pillow decoders with a pixel cap, and Pillow's DecompressionBombWarning is an error.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import stat
import struct
import tarfile
import time
import warnings
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional

import h5py
import numpy as np
from PIL import Image, ImageOps

from .base import DataError

FORMAT_VERSION = 1
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jfif", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                    ".ppm", ".pgm", ".pbm", ".pnm")
PIL_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")  # no EPS (Ghostscript) & co.
MAX_SKIPPED_STORED = 1000  # skipped-file entries kept in the file's attributes

# An image over Pillow's own limit is an error, never a warning to scroll past (process-wide).
warnings.simplefilter("error", Image.DecompressionBombWarning)


@dataclass(frozen=True)
class PackOptions:
    """How images are turned into the packed tensor, and the caps on untrusted input."""

    size: int = 64  # output side in pixels (images are square)
    channels: int = 3  # 3 (RGB) | 1 (grayscale)
    crop: str = "center"  # "center": largest centred square, then resize | "none": squash to square
    labels: str = "none"  # "none" | "from-folders": class = first folder under SRC
    max_files: int = 1_000_000  # most image files (folder) or members (archive) looked at
    max_total_bytes: int = 8 * 2**30  # folder: bytes of image files; archive: uncompressed size
    max_pixels: int = 40_000_000  # most pixels in one source image (w * h); more is refused
    max_file_bytes: int = 256 * 2**20  # most bytes in one image file; a bigger one is skipped

    def validate(self) -> None:
        if not 4 <= self.size <= 1024:
            raise DataError(f"size must be between 4 and 1024 pixels, got {self.size}")
        if self.channels not in (1, 3):
            raise DataError(f"channels must be 1 or 3, got {self.channels}")
        if self.crop not in ("center", "none"):
            raise DataError(f"crop must be 'center' or 'none', got {self.crop!r}")
        if self.labels not in ("none", "from-folders"):
            raise DataError(f"labels must be 'none' or 'from-folders', got {self.labels!r}")
        if min(self.max_files, self.max_total_bytes, self.max_pixels, self.max_file_bytes) < 1:
            raise DataError("max_files, max_total_bytes, max_pixels and max_file_bytes must be positive")
        if Image.MAX_IMAGE_PIXELS and self.max_pixels > Image.MAX_IMAGE_PIXELS:
            raise DataError(f"max_pixels can be at most Pillow's limit, {Image.MAX_IMAGE_PIXELS}")


@dataclass(frozen=True)
class PackReport:
    """What `pack` did; the CLI prints it, the UI shows it."""

    out_path: str
    n_images: int
    n_skipped: int
    skipped: list[tuple[str, str]]  # (name relative to SRC, reason), every one of them
    class_names: tuple[str, ...]
    seconds: float
    images_per_s: float
    workers: int = 1


def chunk_rows(image_bytes: int) -> int:
    """Images per HDF5 chunk: one when an image is >= 2 KiB (32x32 RGB), up to 16 tiny ones."""
    return max(1, min(16, 4096 // max(1, image_bytes)))


# ------------------------------------------------------------------------------ sources
def _hidden(name: str) -> bool:  # .DS_Store, __MACOSX/._x.jpg: never content, never reported
    return any(p.startswith(".") and p != ".." or p == "__MACOSX" for p in PurePosixPath(name).parts)


def _is_image_name(name: str) -> bool:
    return not _hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def _unsafe_path(name: str) -> Optional[str]:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "unsafe path: absolute"
    if ".." in PurePosixPath(name).parts:
        return "unsafe path: '..'"
    return None


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
        if _hidden(name) or not (problem or _is_image_name(name)):
            return
        if not problem and size > self.opts.max_file_bytes:
            problem = f"{size} bytes, over max_file_bytes = {self.opts.max_file_bytes}"
        if problem:
            self.on_skip(name, problem)
        else:
            self.kept[name] = ref

    def _check_count(self, n: int) -> None:
        if n > self.opts.max_files:
            raise DataError(f"{self.path} holds more than {self.opts.max_files} files (max_files)")

    def _check_bytes(self, n: int, what: str) -> None:
        if n > self.opts.max_total_bytes:
            raise DataError(f"{self.path}: {what} exceed max_total_bytes = {self.opts.max_total_bytes}")


class _FolderSource(_Source):
    """A folder, walked recursively in sorted order; symlinked folders are not entered."""

    def names(self) -> list[str]:
        root, total = os.path.realpath(self.path), 0
        for d, dirs, files in os.walk(self.path):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for f in sorted(files):
                full = os.path.join(d, f)
                name = Path(os.path.relpath(full, self.path)).as_posix()
                if not _is_image_name(name):
                    continue
                outside = os.path.commonpath([root, os.path.realpath(full)]) != root
                size = os.stat(full).st_size if os.path.exists(full) else 0
                self._keep(name, "symlink points outside SRC" if outside else None, size, full)
                self._check_count(len(self.kept))
                total += size
        self._check_bytes(total, "the image files")
        return list(self.kept)

    def read(self, name: str) -> bytes:
        with open(self.kept[name], "rb") as f:
            return f.read(self.opts.max_file_bytes + 1)


class _ZipSource(_Source):
    """A .zip, members sorted by name; zipfile never reads past a member's declared size."""

    def __init__(self, path, opts, on_skip):
        super().__init__(path, opts, on_skip)
        self._check_count(_zip_entry_count(path))  # before zipfile parses the whole directory
        self.zf = zipfile.ZipFile(path)

    def names(self) -> list[str]:
        infos = self.zf.infolist()
        self._check_count(len(infos))
        self._check_bytes(sum(i.file_size for i in infos), "its members uncompressed")
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename.replace("\\", "/")
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no type
            self._keep(name, _unsafe_path(name) or (
                "link" if kind == stat.S_IFLNK else
                "special file" if kind not in (0, stat.S_IFREG) else
                "encrypted" if info.flag_bits & 0x1 else None), info.file_size, info)
        self.kept = dict(sorted(self.kept.items()))
        return list(self.kept)

    def read(self, name: str) -> bytes:
        return self.zf.read(self.kept[name])

    def close(self) -> None:
        self.zf.close()


class _Capped:
    """A read/seek/tell stream that refuses to go past `cap` bytes (decompression bombs)."""

    def __init__(self, f, cap: int, path: Path):
        self.f, self.cap, self.path = f, cap, path

    def _check(self) -> None:
        if self.f.tell() > self.cap:
            raise DataError(f"{self.path} expands to more than max_total_bytes = {self.cap}")

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
                self._keep(m.name, _unsafe_path(m.name) or (
                    "link" if m.issym() or m.islnk() else
                    "special file" if m.isdev() or m.isfifo() else
                    None if m.isreg() else "not a regular file"), m.size, m)
        return list(self.kept)

    def read(self, name: str) -> bytes:
        return self.tf.extractfile(self.kept[name]).read()

    def close(self) -> None:
        self.tf.close()
        self.stream.close()
        self.raw.close()


def _zip_entry_count(path: Path) -> int:
    """Entries declared in a zip's end record, read without parsing its central directory."""
    with open(path, "rb") as f:
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
    path = Path(src)
    if not path.exists():
        raise DataError(f"source not found: {path}")
    kinds = "a folder, a .zip or a .tar (.tar.gz, .tar.bz2, .tar.xz) archive of images"
    try:
        if path.is_dir():
            source: _Source = _FolderSource(path, opts, on_skip)
        elif zipfile.is_zipfile(path):
            source = _ZipSource(path, opts, on_skip)
        else:
            raw = open(path, "rb")
            try:
                source = _TarSource(path, opts, on_skip, raw)
            except BaseException:
                raw.close()
                raise
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


# ------------------------------------------------------------------------------ decoding
def _drop_alpha(im: Image.Image) -> Image.Image:
    """Composite anything with transparency onto white."""
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float grayscale (PNG, TIFF) scaled to 0..255 instead of clipped."""
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        top = 255.0 if a.max(initial=0) <= 255 else 65535.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    return im


def decode_image(data: bytes, opts: PackOptions) -> np.ndarray:
    """Encoded image bytes -> (C, size, size) uint8; raises on anything unreadable."""
    s, mode = opts.size, "L" if opts.channels == 1 else "RGB"
    with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as im:
        w, h = im.size
        if w * h > opts.max_pixels:
            raise Image.DecompressionBombError(f"{w}x{h} = {w * h} pixels, "
                                               f"over max_pixels = {opts.max_pixels}")
        im.draft(mode, (s, s))  # JPEG only: decode at the smallest scale that is still >= size
        im = ImageOps.exif_transpose(im)  # phone photos: apply the orientation tag
        im = _drop_alpha(_to_8bit(im)).convert(mode)
        if opts.crop == "center":  # crop first: resizing with a box would blend in pixels beyond it
            w, h = im.size
            m = min(w, h)
            im = im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
        a = np.asarray(im.resize((s, s), Image.Resampling.BICUBIC))
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))  # (C, H, W)


def _decode_or_reason(data: bytes, opts: PackOptions):
    """The decoded image, or why it was skipped (a short sentence)."""
    try:
        return decode_image(data, opts)
    except Image.UnidentifiedImageError:
        return "not an image, or a format ganlab does not read"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return f"decompression bomb: {e}"[:300]
    except Exception as e:  # untrusted bytes: Pillow raises many kinds; each one skips a file
        return f"unreadable ({type(e).__name__}: {e})"[:300]


# ------------------------------------------------------------------------------ writing
class _Writer:
    """Appends images to `OUT.tmp`; `finish` writes labels and attributes, then renames."""

    def __init__(self, out_path, shape: tuple[int, int, int]):
        self.out = Path(out_path)
        self.tmp = Path(str(out_path) + ".tmp")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.f = h5py.File(self.tmp, "w")
        rows = chunk_rows(int(np.prod(shape)))
        self.ds = self.f.create_dataset("images", shape=(0, *shape), maxshape=(None, *shape),
                                        dtype=np.uint8, chunks=(rows, *shape))
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        self.ds.resize(self.n + len(block), axis=0)
        self.ds[self.n:] = block
        self.n += len(block)

    def finish(self, labels, filenames, attrs: dict) -> None:
        if labels is not None:
            self.f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
        self.f.create_dataset("filenames", data=[_text(n) for n in filenames], dtype=h5py.string_dtype())
        self.f.attrs.update({"ganlab_format": FORMAT_VERSION, **attrs,
                             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        self.f.close()
        os.replace(self.tmp, self.out)  # atomic: readers see the old file or the whole new one

    def abort(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)


@contextmanager
def _writing(out_path, shape):
    w = _Writer(out_path, shape)
    try:
        yield w
    except BaseException:
        w.abort()
        raise


def _classes(names: list[str], labels: str) -> tuple[list[str], Optional[list[int]]]:
    """(class names, label per name) for `--labels from-folders`; ([], None) without labels.

    Class = first folder under SRC. One folder that wraps every class folder (as zip tools
    make: `data/cats/1.jpg`) is not a class. Images directly in SRC are an error: they
    have no class, and guessing one would silently teach the model a wrong label.
    """
    if labels == "none":
        return [], None
    parts = [PurePosixPath(n).parts for n in names]
    if len({p[0] for p in parts}) == 1 and all(len(p) >= 3 for p in parts):
        parts = [p[1:] for p in parts]
    loose = [n for n, p in zip(names, parts) if len(p) < 2]
    if loose:
        raise DataError(f"--labels from-folders: {len(loose)} images are not inside a class "
                        f"folder (e.g. {loose[0]!r}); move them into a sub-folder of SRC, "
                        "or pack without labels")
    class_names = sorted({p[0] for p in parts})
    index = {c: i for i, c in enumerate(class_names)}
    return class_names, [index[p[0]] for p in parts]


def _empty_error(src, total: int, skipped: list[tuple[str, str]]) -> DataError:
    if total == 0 and not skipped:
        return DataError(f"no readable images found in {src} (no files ending in "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    shown = "; ".join(f"{n}: {r}" for n, r in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
    return DataError(f"no readable images found in {src} ({len(skipped)} files skipped: {shown})")


def _text(s) -> str:
    """A file name as valid UTF-8 (Linux names may hold any bytes; HDF5 strings may not)."""
    return str(s).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _attrs(src, options: dict, class_names, skipped) -> dict:
    return {"class_names": json.dumps([_text(c) for c in class_names]), "size": options["size"],
            "channels": options["channels"], "crop": options["crop"], "source": _text(src),
            "options": json.dumps(options),
            "n_skipped": len(skipped),
            "skipped": json.dumps([(_text(n), r) for n, r in skipped[:MAX_SKIPPED_STORED]])}


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
        class_names, labels = _classes(names, opts.labels)
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
    try:
        data = source.read(name)  # on this thread: archives must be read in order
    except DataError:
        raise
    except Exception as e:  # a damaged member or a file that vanished skips that one file
        fut: Future = Future()
        fut.set_result(f"cannot read: {type(e).__name__}: {e}"[:300])
        return fut
    return pool.submit(_decode_or_reason, data, opts)


def pack_arrays(images, labels, class_names, out_path, source: str, *,
                shuffle: bool = False) -> PackReport:
    """Pack an in-memory dataset (digits, MNIST, ...) into the same format as `pack`.

    images: uint8 (N, C, S, S) with C 1 or 3 (numpy or a CPU tensor); labels: (N,) ints in
    [0, len(class_names)) or None. `shuffle` stores them in a fixed (seed 0) random order.
    """
    t0 = time.perf_counter()
    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[2] != x.shape[3] \
            or not len(x):
        raise DataError(f"images must be uint8 (N, C, S, S) with C 1 or 3 and N > 0; "
                        f"got {x.dtype} {x.shape}")
    class_names = [str(c) for c in (class_names or [])]
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    if y is not None and (y.shape != (len(x),) or not class_names or y.min() < 0
                          or y.max() >= len(class_names)):
        raise DataError(f"labels must be {len(x)} ints in [0, {len(class_names)}) (one per image, "
                        "with class_names)")
    order = np.random.default_rng(0).permutation(len(x)) if shuffle else np.arange(len(x))
    options = {"size": x.shape[2], "channels": x.shape[1], "crop": "none",
               "labels": "none" if y is None else "given", "shuffle": shuffle}
    with _writing(out_path, x.shape[1:]) as w:
        for a in range(0, len(x), 4096):
            w.append(x[order[a:a + 4096]])
        w.finish(None if y is None else y[order], [f"{source}[{i}]" for i in order],
                 _attrs(source, options, class_names if y is not None else [], []))
    seconds = time.perf_counter() - t0
    return PackReport(str(out_path), len(x), 0, [], tuple(class_names) if y is not None else (),
                      seconds, len(x) / seconds if seconds > 0 else 0.0)
