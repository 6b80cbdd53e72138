"""`ganlab directions`, `ganlab project` and `ganlab sample --z/--psi`: files out, and one line with exit 2 for bad input."""

import numpy as np
import pytest
from PIL import Image

from ganlab.cli import main
from ganlab.explore.explorer import load_generator
from ganlab.store import Run
from tests.helpers import latent


@pytest.fixture(scope="module")
def runs():
    return {"uncond": str(latent.digits_run()), "cond": str(latent.digits_run(conditional=True)),
            "ring": str(latent.ring_run()), "data": str(latent.data_root())}


def _ok(capsys, *args) -> str:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


def _fails(capsys, *args, match: str) -> str:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("ganlab: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.mark.parametrize("method, k", [("sefa", 4), ("pca", 3)])
def test_directions_writes_unit_vectors(capsys, runs, tmp_path, method, k):
    out = _ok(capsys, "directions", runs["uncond"], "--method", method, "-k", k, "--out", tmp_path / "d",
              "--data-root", runs["data"])
    d = np.load(tmp_path / "d.npy")
    assert d.shape == (k, 16) and np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    assert ("eigenvalue" if method == "sefa" else "explained variance") in out


def test_directions_boundary_between_two_classes(capsys, runs, tmp_path):
    """Between the two classes G makes most (a boundary needs samples of both)."""
    ex = load_generator(Run.open(runs["uncond"]), data_root=runs["data"])
    counts = np.bincount(ex.classifier.predict(ex.generate(ex.z(range(2000, 3000))) * 2 - 1), minlength=10)
    a, b = np.argsort(counts)[::-1][:2]
    out = _ok(capsys, "directions", runs["uncond"], "--method", "boundary", "--classes", f"{a},{b}", "--out",
              tmp_path / "b.npy", "--data-root", runs["data"])
    assert np.load(tmp_path / "b.npy").shape == (1, 16) and f"{a} → {b}\taccuracy" in out


@pytest.mark.parametrize("run, extra, match", [
    ("cond", ["--method", "boundary", "--classes", "1,2"], "needs an unconditional run on labelled images"),
    ("ring", ["--method", "boundary", "--classes", "1,2"], "has no labelled images"),
    ("uncond", ["--method", "boundary"], "needs --classes A,B"),
    ("uncond", ["--method", "boundary", "--classes", "3"], "--classes takes two class numbers"),
    ("uncond", ["--method", "boundary", "--classes", "3,12"], "class 12 does not exist"),
    ("uncond", ["--method", "sefa", "--classes", "3,4"], "--classes goes with --method boundary"),
    ("uncond", ["--method", "ica"], "--method must be one of: sefa, pca, boundary"),
    ("uncond", ["-k", "0"], "-k must be between 1 and 1,024"),
])
def test_directions_bad_input_is_one_line(capsys, runs, tmp_path, run, extra, match):
    _fails(capsys, "directions", runs[run], *extra, "--out", tmp_path / "d.npy", "--data-root", runs["data"], match=match)


def test_directions_of_a_missing_run(capsys, tmp_path):
    _fails(capsys, "directions", tmp_path / "nope", "--out", tmp_path / "d.npy", match="is not a ganlab run")


def test_project_an_npy_then_render_its_latents(capsys, runs, tmp_path):
    """project writes Z and R; `sample --z Z` renders R again; the printout gives each error and its baseline."""
    _, held, _ = latent.digits_split()
    np.save(tmp_path / "t.npy", held[:3])
    out = _ok(capsys, "project", runs["uncond"], tmp_path / "t.npy", "--out", tmp_path / "z.npy", "--recon",
              tmp_path / "r.npy", "--steps", 40, "--data-root", runs["data"])
    z, r = np.load(tmp_path / "z.npy"), np.load(tmp_path / "r.npy")
    assert z.shape == (3, 16) and r.shape == (3, 1, 8, 8) and out.count("pixel RMSE") == 3
    _ok(capsys, "sample", runs["uncond"], "--z", tmp_path / "z.npy", "--out", tmp_path / "x.npy")
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), r, atol=1e-5)


def test_project_image_files_of_other_sizes_and_modes(capsys, runs, tmp_path):
    """An RGBA 20x13 PNG and an RGB JPEG become the run's 1x8x8; a conditional run prints the class it chose."""
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (13, 20, 4), dtype=np.uint8), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.full((30, 30, 3), 200, dtype=np.uint8), "RGB").save(tmp_path / "b.jpg")
    out = _ok(capsys, "project", runs["cond"], tmp_path / "a.png", tmp_path / "b.jpg", "--out", tmp_path / "z.npy",
              "--steps", 5, "--data-root", runs["data"])
    assert np.load(tmp_path / "z.npy").shape == (2, 16) and out.count(" class ") == 2


def test_project_bad_input_is_one_line(capsys, runs, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 8, 8), np.float32))
    np.save(tmp_path / "nan.npy", np.full((1, 1, 8, 8), np.nan, np.float32))
    np.save(tmp_path / "big.npy", np.full((1, 1, 8, 8), 255.0, np.float32))
    (tmp_path / "text.png").write_text("not an image")
    run, out = runs["uncond"], ["--out", tmp_path / "z.npy", "--data-root", runs["data"]]
    _fails(capsys, "project", run, tmp_path / "wrong.npy", *out, match="this run's images are (N, 1, 8, 8)")
    _fails(capsys, "project", run, tmp_path / "nan.npy", *out, match="NaN")
    _fails(capsys, "project", run, tmp_path / "big.npy", *out, match="divide 8-bit pixels by 255")
    _fails(capsys, "project", run, tmp_path / "text.png", *out, match="is not an image ganlab can read")
    _fails(capsys, "project", run, tmp_path / "missing.png", *out, match="does not exist")
    _fails(capsys, "project", run, tmp_path / "wrong.npy", *out, "--steps", "-1", match="--steps must be between")
    _fails(capsys, "project", run, tmp_path / "wrong.npy", *out, "--label", "2", match="not conditional")
    _fails(capsys, "project", runs["ring"], tmp_path / "text.png", *out, match="makes points, not images")


def test_sample_with_psi(capsys, runs, tmp_path):
    """--psi 0 renders the mean latent's sample for every seed; --psi 1 is plain sampling."""
    _ok(capsys, "sample", runs["uncond"], "-n", 5, "--psi", "0", "--out", tmp_path / "p0.npy")
    x = np.load(tmp_path / "p0.npy")
    assert x.shape == (5, 1, 8, 8) and np.allclose(x, x[:1], atol=1e-6)
    _ok(capsys, "sample", runs["uncond"], "-n", 5, "--psi", "1", "--out", tmp_path / "p1.npy")
    _ok(capsys, "sample", runs["uncond"], "-n", 5, "--out", tmp_path / "plain.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "p1.npy"), np.load(tmp_path / "plain.npy"))


@pytest.mark.parametrize("extra, match", [
    (["--psi", "abc"], "--psi must be a number from 0 to 2, got 'abc'"),
    (["--psi", "2.5"], "--psi must be a number from 0 to 2"),
    (["--psi", "nan"], "--psi must be a number from 0 to 2"),
    (["--psi", "0.5", "--sampler", "drs"], "go with the raw sampler only"),
])
def test_sample_bad_psi_is_one_line(capsys, runs, tmp_path, extra, match):
    _fails(capsys, "sample", runs["uncond"], *extra, "--out", tmp_path / "x.npy", match=match)


def test_sample_bad_latents_are_one_line(capsys, runs, tmp_path):
    np.save(tmp_path / "dim.npy", np.zeros((3, 5), np.float32))
    np.save(tmp_path / "nan.npy", np.full((2, 16), np.nan, np.float32))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npy").write_bytes(b"junk")
    out = ["--out", tmp_path / "x.npy"]
    _fails(capsys, "sample", runs["uncond"], "--z", tmp_path / "dim.npy", *out, match="this run's latents are (N, 16)")
    _fails(capsys, "sample", runs["uncond"], "--z", tmp_path / "nan.npy", *out, match="NaN")
    _fails(capsys, "sample", runs["uncond"], "--z", tmp_path / "obj.npy", *out, match="object arrays are refused")
    _fails(capsys, "sample", runs["uncond"], "--z", tmp_path / "junk.npy", *out, match="not a readable .npy")
    _fails(capsys, "sample", runs["uncond"], "--z", tmp_path / "none.npy", *out, match="does not exist")
    _fails(capsys, "sample", tmp_path / "norun", "--z", tmp_path / "dim.npy", *out, match="is not a ganlab run")
