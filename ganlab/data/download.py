"""Datasets that need files (MNIST, Fashion-MNIST, CIFAR-10): which files, where, whether they are here, and
the download, done by torchvision's own dataset classes.

torchvision owns the URLs, the checksums and the unpacking (MNIST.mirrors, CIFAR10.url, their md5s). A mirror
($GANLAB_MIRROR or `mirror=`) only swaps the base URL, on a same-named subclass made for that one download, so
torchvision's checksums still guard what arrives and no class attribute changes for anyone else.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..paths import data_root
from ..registry import Registry
from .base import DataError

MIRROR_ENV = "GANLAB_MIRROR"  # a base URL: <base>/<dataset>/<torchvision's file name>, e.g. <base>/mnist/t10k-...gz
Progress = Callable[[str, int, int], None]  # (file name, bytes so far, bytes in all or 0 when unknown)


@dataclass(frozen=True)
class Source:
    """Where one dataset's files go and how torchvision is sent to a mirror for them."""

    torchvision_class: str  # the class in torchvision.datasets that downloads and reads them
    folder: str  # under the data root: torchvision's own layout, so its loader finds the files
    files: tuple[str, ...]  # what must be in the folder
    size_mb: int  # what the download weighs, so the page can say it before it starts
    gz_ok: bool = False  # each file may also be there as distributed (NAME.gz); it is unpacked on first load
    archive: str = ""  # one archive in the data root that holds every file (unpacked on first load)
    upstream: Callable[[type], str] = lambda cls: ""  # where torchvision fetches from, for the instructions
    point_at: Callable[[type, str], dict] = lambda cls, base: {}  # class attributes that send it to `base`
    fetched: Callable[[type, Path], list] = lambda cls, root: []  # [(file torchvision downloads to, its md5)]


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _mnist(cls_name: str, size_mb: int) -> Source:
    return Source(cls_name, f"{cls_name}/raw", _MNIST_FILES, size_mb, gz_ok=True,
                  upstream=lambda cls: cls.mirrors[0], point_at=lambda cls, base: {"mirrors": [base]},
                  fetched=lambda cls, root: [(root / cls_name / "raw" / f, md5) for f, md5 in cls.resources])


SOURCES: Registry[Source] = Registry("dataset with files")
SOURCES.add("mnist", _mnist("MNIST", 12), "MNIST: four idx files")
SOURCES.add("fashion-mnist", _mnist("FashionMNIST", 31), "Fashion-MNIST: four idx files")
SOURCES.add("cifar10", Source("CIFAR10", "cifar-10-batches-py", (
    "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"),
    163, archive="cifar-10-python.tar.gz", upstream=lambda cls: cls.url,
    point_at=lambda cls, base: {"url": base + cls.filename},
    fetched=lambda cls, root: [(root / cls.filename, cls.tgz_md5)]), "CIFAR-10: python batches")


@dataclass(frozen=True)
class FilesStatus:
    """What a page shows about one dataset's files: the folder, each file, which are missing."""

    name: str
    folder: Path
    files: tuple[str, ...]
    missing: tuple[str, ...]
    gz_ok: bool
    archive: Optional[Path]  # the data root's archive that would do instead, when the dataset has one

    @property
    def ready(self) -> bool:
        return not self.missing


def needs_files(name: str) -> bool:
    return name in SOURCES


def mirror_url(override: Optional[str] = None) -> Optional[str]:
    """The mirror to download from: an explicit URL, else $GANLAB_MIRROR, else None (torchvision's own)."""
    url = override or os.environ.get(MIRROR_ENV) or ""
    return url.rstrip("/") or None


def status(name: str, root=None) -> FilesStatus:
    s = SOURCES.get(name)
    root = data_root(root)
    folder = root / s.folder
    archive = root / s.archive if s.archive else None
    if archive is not None and archive.is_file():
        missing: tuple[str, ...] = ()
    else:
        missing = tuple(f for f in s.files if not ((folder / f).is_file() or (s.gz_ok and (folder / f"{f}.gz").is_file())))
    return FilesStatus(name, folder, s.files, missing, s.gz_ok, archive)


def by_hand(name: str, root=None, files: Optional[tuple[str, ...]] = None) -> str:
    """'put A, B (.gz files are fine) in FOLDER': the instruction for someone without internet access."""
    st = status(name, root)
    listed = ", ".join(files or st.files)
    text = f"put {listed}{' (.gz files are fine)' if st.gz_ok else ''} in {st.folder}"
    if st.archive is not None:
        text += f" (or put {st.archive.name} in {st.archive.parent})"
    return text


def files_problem(name: str, root=None) -> Optional[str]:
    """None when `name` needs no files or has them; else one sentence saying which files to put where."""
    if name not in SOURCES:
        return None
    st = status(name, root)
    if st.ready:
        return None
    return (f"{name} needs its files: {by_hand(name, root, st.missing)}, or download it "
            f"(the Data page's Download button, or --download on the command line)")


def torchvision_url(name: str) -> str:
    """Where torchvision itself fetches `name` from (the files to fetch by hand are there)."""
    return SOURCES.get(name).upstream(_torchvision_class(name))


def upstream_url(name: str, mirror: Optional[str] = None) -> str:
    """Where a download of `name` would come from now: the mirror, or torchvision's own server."""
    base = mirror_url(mirror)
    return f"{base}/{name}/" if base else torchvision_url(name)


def prepare(name: str, root=None) -> None:
    """Unpack what was put there as distributed (NAME.gz, the archive) so torchvision's loader finds the files."""
    from torchvision.datasets.utils import extract_archive

    st = status(name, root)
    if st.archive is not None and st.archive.is_file() and not all((st.folder / f).is_file() for f in st.files):
        extract_archive(str(st.archive), str(st.archive.parent))
    for f in st.files:
        gz, out = st.folder / f"{f}.gz", st.folder / f
        if st.gz_ok and not out.is_file() and gz.is_file():
            tmp = out.parent / f"{out.name}.tmp"
            with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:  # whole or not at all
                shutil.copyfileobj(src, dst)
            tmp.replace(out)


_ONE_AT_A_TIME = threading.Lock()  # two downloads would write the same files (and share the progress hook)


def download(name: str, root=None, *, mirror: Optional[str] = None, progress: Optional[Progress] = None) -> Path:
    """Fetch `name` into the data root with torchvision's own downloader; -> the folder that holds it.

    `progress(file, done, total)` is called from this thread about 10 times a second while bytes arrive.
    A failure raises DataError saying what failed and which files to put where by hand.
    """
    root = data_root(root)
    cls = _torchvision_class(name)
    base = mirror_url(mirror)
    if base:
        cls = type(cls.__name__, (cls,), SOURCES.get(name).point_at(cls, f"{base}/{name}/"))  # same name: same folder
    where = upstream_url(name, mirror)
    with _ONE_AT_A_TIME:
        prepare(name, root)
        done = False
        try:
            with _reporting(progress):
                cls(str(root), train=True, download=True)
            done = True
        except (RuntimeError, OSError, EOFError, tarfile.TarError) as e:  # URLError is an OSError; a bad md5 a RuntimeError
            raise DataError(f"{name}: the download from {where} failed ({_reason(e)}); {by_hand(name, root)} "
                            f"by hand (torchvision fetches them from {torchvision_url(name)}), "
                            f"or set ${MIRROR_ENV} to a server that has them") from None
        finally:
            if not done:
                _drop_bad_downloads(name, cls, root)
    return status(name, root).folder


def _drop_bad_downloads(name: str, cls: type, root: Path) -> None:
    """torchvision leaves a file that failed its checksum or was cut off; it would pass for the real one."""
    from torchvision.datasets.utils import check_integrity

    for path, md5 in SOURCES.get(name).fetched(cls, root):
        if path.is_file() and not check_integrity(str(path), md5):
            path.unlink(missing_ok=True)


def _torchvision_class(name: str) -> type:
    import torchvision.datasets

    return getattr(torchvision.datasets, SOURCES.get(name).torchvision_class)


def _reason(e: BaseException) -> str:
    """The useful line of torchvision's error: its last one (MNIST lists every mirror it tried)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[-1] if lines else type(e).__name__
    return text.removeprefix("<urlopen error ").removesuffix(">")


@contextmanager
def _reporting(progress: Optional[Progress]) -> Iterator[None]:
    """Hear torchvision's download loop: it writes each file through its module's `tqdm`, which is swapped for
    one that calls `progress` while this (locked) download runs, and its `_urlretrieve`, which names the file."""
    if progress is None:
        yield
        return
    from torchvision.datasets import utils

    current = [""]
    urlretrieve, tqdm = utils._urlretrieve, utils.tqdm

    def named(url, filename, *args, **kwargs):
        current[0] = Path(filename).name
        return urlretrieve(url, filename, *args, **kwargs)

    class Bar:
        def __init__(self, total=None, **_):
            self.total, self.done, self.last = int(total or 0), 0, 0.0
            progress(current[0], 0, self.total)

        def update(self, n: int) -> None:
            self.done += n
            if time.perf_counter() - self.last > 0.1 or self.done == self.total:
                progress(current[0], self.done, self.total)
                self.last = time.perf_counter()

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            if exc[0] is None:
                progress(current[0], self.done, self.total or self.done)

    utils._urlretrieve, utils.tqdm = named, Bar
    try:
        yield
    finally:
        utils._urlretrieve, utils.tqdm = urlretrieve, tqdm
