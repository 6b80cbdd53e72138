"""A dataset mirror on 127.0.0.1 for the download tests: small, valid MNIST idx files and CIFAR-10 batches,
served by http.server from a thread, with the md5s torchvision must expect for them.

torchvision checks every download against the md5s on its classes; the tests set those to these files'
(in this process with monkeypatch, in a served app through a sitecustomize that reads them from a JSON file).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import pickle
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _digits(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """n of scikit-learn's 8x8 digits, enlarged to MNIST's 28x28 (so a screenshot shows digits, not noise)."""
    from PIL import Image

    from ganlab.data.images import digits_arrays

    x, y = digits_arrays()
    big = [np.asarray(Image.fromarray(x[i, 0]).resize((20, 20), Image.BILINEAR)) for i in range(offset, offset + n)]
    return np.stack([np.pad(b, 4) for b in big]).astype(np.uint8), y[offset:offset + n].astype(np.uint8)


def idx_images(n: int, offset: int = 0) -> bytes:
    """n 28x28 uint8 images in the idx3 format (magic 2051, big-endian sizes)."""
    return np.array([2051, n, 28, 28], ">i4").tobytes() + _digits(n, offset)[0].tobytes()


def idx_labels(n: int, offset: int = 0) -> bytes:
    return np.array([2049, n], ">i4").tobytes() + _digits(n, offset)[1].tobytes()


def mnist_files(n_train: int = 30, n_test: int = 10) -> dict[str, bytes]:
    """The four MNIST files, uncompressed, by name."""
    return dict(zip(MNIST_NAMES, (idx_images(n_train), idx_labels(n_train), idx_images(n_test, n_train),
                                  idx_labels(n_test, n_train))))


def cifar_files(per_batch: int = 6) -> dict[str, bytes]:
    rng = np.random.RandomState(0)
    out = {b: pickle.dumps({"data": rng.randint(0, 256, (per_batch, 3072)).astype(np.uint8),
                            "labels": [i % 10 for i in range(per_batch)]}) for b in CIFAR_BATCHES}
    out["batches.meta"] = pickle.dumps({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                        "horse", "ship", "truck"]})
    return out


def build_mirror(folder: Path) -> dict:
    """Write <folder>/{mnist,fashion-mnist}/*.gz and <folder>/cifar10/cifar-10-python.tar.gz (GANLAB_MIRROR's
    layout); -> the class attributes that make torchvision expect exactly these files."""
    patches: dict = {}
    for dataset, cls in (("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")):
        (folder / dataset).mkdir(parents=True, exist_ok=True)
        resources = []
        for name, data in mnist_files().items():
            gz = gzip.compress(data, mtime=0)
            (folder / dataset / f"{name}.gz").write_bytes(gz)
            resources.append([f"{name}.gz", _md5(gz)])
        patches[cls] = {"resources": resources}
    files = cifar_files()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (folder / "cifar10").mkdir(parents=True, exist_ok=True)
    (folder / "cifar10" / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    patches["CIFAR10"] = {"tgz_md5": _md5(buf.getvalue()),
                          "train_list": [[b, _md5(files[b])] for b in CIFAR_BATCHES[:5]],
                          "test_list": [["test_batch", _md5(files["test_batch"])]],
                          "meta": {"filename": "batches.meta", "key": "label_names", "md5": _md5(files["batches.meta"])}}
    return patches


def expect_these_files(monkeypatch, patches: dict) -> None:
    """torchvision (in this process) checks downloads against the mirror's md5s."""
    import torchvision.datasets

    for cls, attrs in patches.items():
        for attr, value in attrs.items():
            monkeypatch.setattr(getattr(torchvision.datasets, cls), attr, value)


SITECUSTOMIZE = '''import json, os
path = os.environ.get("GANLAB_TEST_TORCHVISION_MD5")
if path:
    import torchvision.datasets
    for cls, attrs in json.load(open(path)).items():
        for attr, value in attrs.items():
            setattr(getattr(torchvision.datasets, cls), attr, value)
'''


def sitecustomize_dir(folder: Path, patches: dict) -> tuple[Path, Path]:
    """A folder for PYTHONPATH whose sitecustomize applies `patches` in a served app; -> (folder, JSON file)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (folder / "md5.json").write_text(json.dumps(patches))
    return folder, folder / "md5.json"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """http.server on 127.0.0.1 (a free port) serving `folder` from a thread; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
