"""ganlab.data.download: which files MNIST, Fashion-MNIST and CIFAR-10 need and where, and their download
through torchvision's own classes, from a mirror on 127.0.0.1 (offline, real code path)."""

from __future__ import annotations

import gzip
import socket

import pytest
import torch

from ganlab.data import DataError, load_dataset
from ganlab.data import download as dl
from ganlab.paths import data_root
from tests.helpers.mirror import MNIST_NAMES, build_mirror, expect_these_files, mnist_files, serving


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A mirror of small valid files on 127.0.0.1, and torchvision expecting exactly their md5s."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    expect_these_files(monkeypatch, build_mirror(tmp_path / "mirror"))
    with serving(tmp_path / "mirror") as url:
        yield url


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once the socket closes


def test_missing_files_are_named_with_their_folder():
    """Nothing there: the sentence names the folder and every file; .gz copies and the CIFAR archive count."""
    root = data_root()
    problem = dl.files_problem("mnist")
    assert str(root / "MNIST" / "raw") in problem
    assert all(n in problem for n in MNIST_NAMES) and "Download" in problem
    assert dl.files_problem("ring8") is None and dl.files_problem("digits") is None
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in list(mnist_files().items())[:3]:
        (raw / f"{name}.gz").write_bytes(gzip.compress(data))
    assert dl.status("mnist").missing == ("t10k-labels-idx1-ubyte",)
    assert "t10k-labels-idx1-ubyte" in dl.files_problem("mnist") and "train-images" not in dl.files_problem("mnist")
    cifar = dl.files_problem("cifar10")
    assert str(root / "cifar-10-batches-py") in cifar and "data_batch_5" in cifar and "cifar-10-python.tar.gz" in cifar
    (root / "cifar-10-python.tar.gz").write_bytes(b"")
    assert dl.status("cifar10").ready


def test_download_mnist_from_a_mirror_with_progress(mirror):
    """torchvision fetches the four files from the mirror; progress names each file and ends at its size."""
    calls = []
    folder = dl.download("mnist", mirror=mirror, progress=lambda f, done, total: calls.append((f, done, total)))
    assert folder == data_root() / "MNIST" / "raw"
    assert dl.files_problem("mnist") is None
    assert {f for f, _, _ in calls} == {f"{n}.gz" for n in MNIST_NAMES}
    last = {f: (done, total) for f, done, total in calls}
    assert all(done == total > 0 for done, total in last.values()), last
    ds = load_dataset("mnist", "cpu")
    assert len(ds) == 30 and ds.x.dtype == torch.uint8 and tuple(ds.x.shape[1:]) == (1, 28, 28)


def test_mirror_from_the_environment_serves_cifar10_and_the_cli_download(mirror, monkeypatch):
    """$GANLAB_MIRROR is used by download() and by load_dataset(download=True), the CLI's --download."""
    import torchvision.datasets
    from torchvision.datasets import utils

    tqdm, upstream = utils.tqdm, torchvision.datasets.CIFAR10.url
    monkeypatch.setenv(dl.MIRROR_ENV, mirror + "/")
    assert dl.upstream_url("cifar10") == f"{mirror}/cifar10/"
    dl.download("cifar10", progress=lambda *a: None)
    assert dl.status("cifar10").ready
    assert len(load_dataset("cifar10", "cpu")) == 30
    assert utils.tqdm is tqdm and torchvision.datasets.CIFAR10.url == upstream, "nothing global is left changed"
    assert len(load_dataset("fashion-mnist", "cpu", download=True)) == 30


def test_offline_download_says_which_files_to_put_where():
    """No server: one DataError with what failed and the folder and file names to put by hand."""
    with pytest.raises(DataError) as e:
        dl.download("mnist", mirror=_closed_port_url())
    text = str(e.value)
    assert "failed" in text and str(data_root() / "MNIST" / "raw") in text
    assert all(n in text for n in MNIST_NAMES) and "https://ossci-datasets.s3.amazonaws.com/mnist/" in text
    assert "\n" not in text and "Traceback" not in text


def test_a_file_that_fails_the_checksum_is_refused(tmp_path, monkeypatch):
    """The mirror serves files that do not match torchvision's md5s: refused, and the dataset still needs files."""
    build_mirror(tmp_path / "mirror")  # torchvision keeps its real md5s
    with serving(tmp_path / "mirror") as url, pytest.raises(DataError, match="corrupted"):
        dl.download("fashion-mnist", mirror=url)
    assert dl.files_problem("fashion-mnist") is not None
    assert not list((data_root() / "FashionMNIST" / "raw").iterdir()), "the refused file is not kept"


def test_missing_files_raise_the_same_sentence_when_loading():
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", "cpu")
    assert str(e.value) == dl.files_problem("fashion-mnist")
