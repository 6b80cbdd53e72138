"""`points:FILE` datasets: .csv and .npy files load as point data with a fixed held-out split; every bad file
is one DataError naming the file (and the row and column where it can); drawn sets save and load back."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.config import ConfigError, RunConfig
from ganlab.config.recipes_points import POINTS
from ganlab.config.validate import validate_config
from ganlab.data import DataError, dataset_spec, load_dataset, metric_family
from ganlab.data import points as pts
from ganlab.data.drawing import (
    SQUARE,
    Drawing,
    action_from_selection,
    brush,
    fill_box,
    fill_polygon,
    in_polygon,
    inside,
    save_points,
    saved_point_sets,
    spray,
)
from ganlab.store import Run
from ganlab.training import train


def _cloud(n=500, d=2, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _csv(path: Path, x: np.ndarray, header: str | None = "x,y", sep: str = ",") -> Path:
    lines = ([header] if header else []) + [sep.join(repr(float(v)) for v in row) for row in x]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- loading

@pytest.mark.parametrize("kind", ["npy64", "npy-int", "csv-header", "csv-spaces", "csv-comments"])
def test_files_load_as_point_data_with_a_fixed_held_out_split(tmp_path, kind):
    x = _cloud(500, 3)
    if kind == "npy-int":
        x = np.round(x * 10).astype(np.int32)
    path = tmp_path / ("a.npy" if kind.startswith("npy") else "a.csv")
    if kind.startswith("npy"):
        np.save(path, x.astype(np.float64) if kind == "npy64" else x)
    elif kind == "csv-header":
        _csv(path, x, header="a,b,c")
    elif kind == "csv-spaces":
        _csv(path, x, header=None, sep=" \t")
    else:
        path.write_text("# made by hand\n\n" + "\n".join(", ".join(map(repr, map(float, r))) for r in x) + "\n")
    spec = dataset_spec(f"points:{path}")
    assert (spec.kind, spec.shape, spec.unbounded, spec.num_classes) == ("points", (3,), True, 0)
    ds = load_dataset(f"points:{path}", "cpu")
    assert ds.x.dtype == torch.float32 and ds.spec == spec
    assert len(ds) == 400 and len(ds.held_out) == 100 and ds.meta["n_points"] == 500
    both = torch.cat([ds.x, ds.held_out]).numpy()
    assert sorted(map(tuple, both)) == sorted(map(tuple, x.astype(np.float32)))  # a split: every point, once
    again = load_dataset(f"points:{path}", "cpu", seed=7)  # the run's seed does not move the split
    assert torch.equal(again.held_out, ds.held_out)


def test_held_out_is_a_tenth_but_at_least_100_or_a_quarter():
    assert [pts.held_out_count(n) for n in (32, 200, 400, 1000, 10_000)] == [8, 50, 100, 100, 1000]


def test_batches_never_draw_held_out_points(tmp_path):
    x = np.stack([np.arange(1000), np.zeros(1000)], 1).astype(np.float32)  # each point is its own label
    np.save(tmp_path / "line.npy", x)
    ds = load_dataset(f"points:{tmp_path / 'line.npy'}", "cpu")
    gen = torch.Generator().manual_seed(0)
    seen = torch.cat([ds.batch(256, gen)[0] for _ in range(40)])[:, 0]
    held = set(ds.held_out[:, 0].tolist())
    assert held.isdisjoint(seen.tolist()) and len(set(seen.tolist())) > 850  # all of the 900 train points, nearly


def test_relative_names_resolve_under_the_data_root_and_its_points_folder(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "points").mkdir(parents=True)
    np.save(root / "top.npy", _cloud(64))
    np.save(root / "points" / "drawn.npy", _cloud(64))
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "here.npy", _cloud(64))
    for name, where in (("here.npy", tmp_path / "here.npy"), ("top.npy", root / "top.npy"),
                        ("drawn.npy", root / "points" / "drawn.npy")):
        assert pts.points_path(f"points:{name}", root) == where
        assert load_dataset(f"points:{name}", "cpu", root=root).meta["path"] == str(where)
    with pytest.raises(DataError, match=r"points file not found: nope\.csv .*Data page"):
        dataset_spec("points:nope.csv", root)
    with pytest.raises(DataError, match="needs a file after the colon"):
        dataset_spec("points:", root)
    with pytest.raises(DataError, match=r"is not a usable file name \(File name too long\)"):
        dataset_spec("points:" + "x" * 5000, root)
    with pytest.raises(DataError, match="cannot be read"):
        dataset_spec("points:/tmp/a\x00b.csv", root)


def test_same_config_and_seed_give_the_same_losses(tmp_path):
    np.save(tmp_path / "blob.npy", _cloud(300))
    cfg = RunConfig(dataset=f"points:{tmp_path / 'blob.npy'}", steps=20, log_every=10, batch_size=32, seed=2,
                    g_hidden=(16,), d_hidden=(16,), latent_dim=4, device="cpu")
    runs = [Run.create(tmp_path / "runs", cfg) for _ in range(2)]
    for run in runs:
        train(cfg, run)
    losses = [[(r["Loss/D"], r["Loss/G"]) for r in run.history()] for run in runs]
    assert losses[0] == losses[1] and len(losses[0]) == 2


def test_points_datasets_are_scored_by_the_points_family(tmp_path):
    np.save(tmp_path / "a.npy", _cloud(64))
    name = f"points:{tmp_path / 'a.npy'}"
    assert metric_family(name, dataset_spec(name)) == "points"
    assert metric_family("ring8", dataset_spec("ring8")) == "mixture"  # a family of its own wins
    assert metric_family("some-new-mixture", pts.points_spec(2)) == "points"  # point data without one


def test_validate_config_accepts_a_points_file_and_names_a_bad_one(tmp_path):
    np.save(tmp_path / "ok.npy", _cloud(64, 5))
    validate_config(RunConfig(dataset=f"points:{tmp_path / 'ok.npy'}"))
    np.save(tmp_path / "flat.npy", np.zeros(64))
    with pytest.raises(ConfigError, match=r"^dataset: .*flat\.npy has shape \(64,\).*reshape\(-1, 1\)"):
        validate_config(RunConfig(dataset=f"points:{tmp_path / 'flat.npy'}"))
    with pytest.raises(ConfigError, match="arch: "):  # DCGAN wants images
        validate_config(RunConfig(dataset=f"points:{tmp_path / 'ok.npy'}", arch="dcgan"))


# ---------------------------------------------------------------- bad files

def _bad(tmp_path: Path, kind: str) -> Path:
    good = "\n".join(f"{i},{i % 7}" for i in range(40))
    p = tmp_path / f"{kind}.csv"
    if kind == "word":
        p.write_text("x,y\n" + good + "\n3,abc\n")
    elif kind == "ragged":
        p.write_text(good + "\n1,2,3\n")
    elif kind == "nan":
        p.write_text(good + "\n1,nan\n")
    elif kind == "huge-value":
        p.write_text(good + "\n1,1e300\n")
    elif kind == "empty":
        p.write_text("")
    elif kind == "header-only":
        p.write_text("x,y\n")
    elif kind == "two-headers":
        p.write_text("x,y\nu,v\n" + good)
    elif kind == "few":
        p.write_text("1,2\n3,4\n")
    elif kind == "wide":
        p.write_text(",".join(["1"] * 65) + "\n")
    elif kind == "binary":
        p.write_bytes(b"\xff\xfe\x00garbage" * 10)
    elif kind == "suffix":
        p = tmp_path / "points.json"
        p.write_text("[[1, 2]]")
    else:
        p = tmp_path / f"{kind}.npy"
        arrays = {"1d": np.zeros(100), "3d": np.zeros((40, 2, 2)), "objects": np.array([[1, "a"]] * 40, dtype=object),
                  "strings": np.array([["1", "2"]] * 40), "inf": np.r_[_cloud(40), [[0.0, np.inf]]],
                  "bool": np.ones((40, 2), bool), "complex": np.ones((40, 2), complex)}
        if kind == "truncated":
            np.save(p, _cloud(100))
            p.write_bytes(p.read_bytes()[:-50])
        elif kind == "not-npy":
            p.write_text("1,2\n" * 40)
        else:
            np.save(p, arrays[kind], allow_pickle=True)
    return p


BAD = {
    "word": r"line 42, column 2: 'abc' is not a number",
    "ragged": r"line 41: 3 values, but the first row \(line 1\) has 2",
    "nan": r"line 41, column 2: nan is not a finite number",
    "huge-value": r"line 41, column 2: 1e\+300 is not a finite number .*float32",
    "empty": r"is empty",
    "header-only": r"has no rows of numbers",
    "two-headers": r"line 2, column 1: 'u' is not a number .*only the first row may be a header",
    "few": r"has 2 points; a distribution needs at least 32",
    "wide": r"has 65 coordinates per point; ganlab trains on 1 to 64",
    "binary": r"line 1: not UTF-8 text",
    "suffix": r"must end in \.csv or \.npy",
    "1d": r"has shape \(100,\).*reshape\(-1, 1\)",
    "3d": r"has shape \(40, 2, 2\)",
    "objects": r"holds objects .*never unpickles",
    "strings": r"holds <U1, not numbers",
    "bool": r"holds bool, not numbers",
    "complex": r"holds complex128, not numbers",
    "inf": r"x\[40, 1\]: inf is not a finite number",
    "truncated": r"is truncated",
    "not-npy": r"is not a readable \.npy file",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_every_bad_file_is_one_data_error_naming_the_file_and_the_place(tmp_path, kind):
    path = _bad(tmp_path, kind)
    with pytest.raises(DataError) as e:
        load_dataset(f"points:{path}", "cpu")
    assert path.name in str(e.value) and " — " in str(e.value), str(e.value)  # the file, then what to do
    assert e.match(BAD[kind])


def test_the_spec_reads_only_the_header(tmp_path, monkeypatch):
    """The Train page validates on every rerun: a big file's spec must not read its rows."""
    np.save(tmp_path / "a.npy", _cloud(1000))
    _csv(tmp_path / "a.csv", _cloud(1000))
    with (tmp_path / "a.csv").open("a") as f:
        f.write("1,oops\n")  # past the head: only a full load sees it
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: pytest.fail("the spec read the array"))
    assert dataset_spec(f"points:{tmp_path / 'a.npy'}").shape == (2,)
    assert dataset_spec(f"points:{tmp_path / 'a.csv'}").shape == (2,)
    with pytest.raises(DataError, match="line 1002, column 2: 'oops'"):
        load_dataset(f"points:{tmp_path / 'a.csv'}", "cpu")


def test_folders_fifos_devices_and_oversized_files_are_refused_unread(tmp_path, monkeypatch):
    (tmp_path / "dir.csv").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")  # opening it for reading would block forever
    os.symlink("/dev/zero", tmp_path / "zero.npy")  # reading it never ends
    for name, what in (("dir.csv", "is a folder"), ("pipe.csv", "is a FIFO"), ("zero.npy", "is a character device")):
        for call in (dataset_spec, lambda n: load_dataset(n, "cpu")):
            with pytest.raises(DataError, match=f"{name} {what}"):
                call(f"points:{tmp_path / name}")
    np.save(tmp_path / "big.npy", _cloud(1000))
    monkeypatch.setattr(pts, "MAX_BYTES", 4000)
    with pytest.raises(DataError, match=r"big\.npy is 0 MB, over the 0 MB a points file may be"):
        dataset_spec(f"points:{tmp_path / 'big.npy'}")
    monkeypatch.setattr(pts, "MAX_BYTES", 2**30)
    monkeypatch.setattr(pts, "MAX_ROWS", 999)
    with pytest.raises(DataError, match=r"has 1,000 points, over the 999"):
        load_dataset(f"points:{tmp_path / 'big.npy'}", "cpu")


def test_the_cli_trains_on_a_points_file_and_a_bad_one_is_one_line_exit_2(tmp_path, capsys):
    _csv(tmp_path / "xy.csv", _cloud(200))
    common = ["--steps", "5", "--runs-dir", str(tmp_path / "runs"), "--quiet", "--set", "g_hidden=8", "--set", "d_hidden=8"]
    assert main(["train", "--dataset", f"points:{tmp_path / 'xy.csv'}", *common]) == 0
    assert f"00000-xy-mlp-{POINTS['loss']} finished: step 5/5" in capsys.readouterr().out  # the point recipe
    assert main(["train", "--dataset", f"points:{_bad(tmp_path, 'word')}", *common]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "line 42, column 2: 'abc' is not a number" in err


# ---------------------------------------------------------------- drawing

def test_spray_brush_and_box_are_seeded_shaped_and_stay_inside_the_square():
    lo, hi = SQUARE
    corner = spray((hi, hi), 500, 0.5, seed=1)  # a blob at the corner: most draws fall outside and are redrawn
    assert corner.shape == (500, 2) and corner.dtype == np.float32 and inside(corner).all()
    assert not np.isclose(corner, hi).any()  # redrawn, not clipped onto the border
    assert np.array_equal(spray((0, 0), 50, 0.1, seed=3), spray((0, 0), 50, 0.1, seed=3))
    assert not np.array_equal(spray((0, 0), 50, 0.1, seed=3), spray((0, 0), 50, 0.1, seed=4))
    t = np.linspace(0, 2 * np.pi, 60)
    ring = brush(2 * np.cos(t), 2 * np.sin(t), 400, 0.02, seed=0)
    r = np.linalg.norm(ring, axis=1)
    assert ring.shape == (400, 2) and abs(r.mean() - 2) < 0.02 and r.std() < 0.05  # along the stroke
    angles = np.histogram(np.arctan2(ring[:, 1], ring[:, 0]), bins=8)[0]
    assert angles.min() > 30  # spread evenly along its length
    box = fill_box((2, 5), (-1, 0), 300, seed=0)  # a box over the edge is cut at the square
    assert inside(box).all() and box[:, 0].min() >= 2 and box[:, 1].max() <= 0


def test_polygon_fill_is_uniform_inside_the_shape():
    xs, ys = [-2, 2, 2, 0, 0, -2], [-2, -2, 0, 0, 2, 2]  # an L: three unit squares of 2x2
    x = fill_polygon(xs, ys, 6000, seed=0)
    assert x.shape == (6000, 2) and in_polygon(x, xs, ys).all()
    counts = [((x[:, 0] < 0) & (x[:, 1] < 0)).sum(), ((x[:, 0] >= 0) & (x[:, 1] < 0)).sum(),
              ((x[:, 0] < 0) & (x[:, 1] >= 0)).sum()]
    assert max(counts) - min(counts) < 250 and sum(counts) == 6000  # ~2000 each; nothing in the missing square
    hist = np.histogram2d(x[:, 0], x[:, 1], bins=4, range=[[-2, 2], [-2, 2]])[0]
    filled = hist[hist > 0]
    assert len(filled) == 12 and filled.std() / filled.mean() < 0.12


def test_a_selection_event_becomes_the_points_it_draws():
    """The dict shapes Streamlit's Plotly selection state has (points, box, lasso)."""
    click = {"points": [{"curve_number": 0, "point_index": 5, "x": 1.0, "y": -1.0}], "point_indices": [5],
             "box": [], "lasso": []}
    blob = action_from_selection(click, n=30, std=0.05, seed=0)
    assert blob.shape == (30, 2) and np.abs(blob.mean(0) - [1, -1]).max() < 0.05
    box = {"points": [{"x": 0.5, "y": 0.5}], "box": [{"xref": "x", "yref": "y", "x": [1.0, 0.0], "y": [0.0, 2.0]}],
           "lasso": []}
    filled = action_from_selection(box, n=100, std=0.05, seed=0)  # the box wins over the points inside it
    assert (filled[:, 0] >= 0).all() and (filled[:, 0] <= 1).all() and (filled[:, 1] <= 2).all()
    lasso = {"points": [], "box": [], "lasso": [{"x": [0, 1, 1, 0], "y": [0, 0, 1, 1]}]}
    stroke = action_from_selection(lasso, n=100, std=0.0, seed=0)
    on_edge = np.minimum.reduce([stroke[:, 0], 1 - stroke[:, 0], stroke[:, 1], 1 - stroke[:, 1]])
    assert np.abs(on_edge).max() < 1e-6  # brushed along the path
    inner = action_from_selection(lasso, n=100, std=0.0, seed=0, lasso="fill")
    assert ((inner > 0) & (inner < 1)).all()
    assert action_from_selection({"points": [], "point_indices": [], "box": [], "lasso": []}, n=5, std=0.1, seed=0) is None
    d = Drawing()
    assert d.apply(click, n=10, std=0.1) and d.apply(box, n=20, std=0.1) and not d.apply({}, n=5, std=0.1)
    assert len(d) == 30 and d.seed == 2
    d.undo()
    assert len(d) == 10
    d.clear()
    assert len(d) == 0 and d.points().shape == (0, 2)


def test_a_saved_drawing_is_a_points_dataset(tmp_path):
    root = tmp_path / "data"
    x = spray((0, 0), 64, 0.3, seed=0)
    path = save_points(x, "my-blob_1", root)
    assert path == root / "points" / "my-blob_1.npy" and saved_point_sets(root) == ["points:my-blob_1.npy"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    ds = load_dataset("points:my-blob_1.npy", "cpu", root=root)
    assert np.array_equal(np.sort(torch.cat([ds.x, ds.held_out]).numpy(), 0), np.sort(x, 0))
    with pytest.raises(DataError, match="already exists"):
        save_points(x[:40], "my-blob_1", root)
    assert len(np.load(path)) == 64  # refused: the old file is untouched
    save_points(x[:40], "my-blob_1", root, overwrite=True)
    assert len(np.load(path)) == 40
    for name in ("../evil", "a b", "", "x" * 65):
        with pytest.raises(DataError, match="letters, digits"):
            save_points(x, name, root)
    with pytest.raises(DataError, match="at least 32"):
        save_points(x[:10], "few", root)
