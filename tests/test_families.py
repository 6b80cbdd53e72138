"""Point families (`ring:N`, `grid:K`/`grid:RxC`, spiral, moons, swissroll): parsed with bounds, sampled seeded, scored.

The rings and grids are mixtures with known centres, so a sampler that draws from the true mixture must cover
every mode at the 98.9% high-quality rate a 2-D Gaussian has inside 3 std, through the same evaluation a run gets.
"""

import json
import math

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.config.validate import validate_config
from ganlab.data import DataError, dataset_spec, load_dataset, metric_family, parse_family
from ganlab.data.families import FAMILIES, family_name, grid_centres
from ganlab.data.mixtures import MIXTURE_SIZE, grid25_centres, ring8_centres
from ganlab.evaluation.evaluate import metrics_for


@pytest.mark.parametrize("n", [2, 5, 12, 64])
def test_ring_centres_sit_at_2pi_k_over_n_on_the_radius(n):
    f = parse_family(f"ring:{n},radius=3")
    c = f.centres()
    assert c.shape == (n, 2)
    angles = np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * math.pi)
    np.testing.assert_allclose(angles, 2 * math.pi * np.arange(n) / n, atol=1e-9)
    np.testing.assert_allclose(np.hypot(c[:, 0], c[:, 1]), 3.0)
    assert len({tuple(np.round(p, 9)) for p in c}) == n, "every centre distinct (not linspace's repeated one)"


def test_grid_centres_are_spaced_and_centred_on_zero():
    c = parse_family("grid:3x4,spacing=1.5").centres()
    assert c.shape == (12, 2)
    np.testing.assert_allclose(sorted(set(c[:, 0])), [-1.5, 0.0, 1.5])
    np.testing.assert_allclose(sorted(set(c[:, 1])), [-2.25, -0.75, 0.75, 2.25])
    np.testing.assert_allclose(c.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(grid_centres(7, 7), parse_family("grid:7").centres())


def test_ring8_and_grid25_are_ring_8_and_grid_5():
    np.testing.assert_allclose(parse_family("ring:8").centres(), ring8_centres())
    np.testing.assert_allclose(parse_family("grid:5").centres(), grid25_centres())
    assert parse_family("ring:8").std() == 0.02 and parse_family("grid:5").std() == 0.05
    for family, named in (("ring:8", "ring8"), ("grid:5", "grid25")):
        a, b = load_dataset(family, "cpu", seed=3), load_dataset(named, "cpu", seed=3)
        assert torch.equal(a.x, b.x) and a.meta["centres"] == b.meta["centres"] and a.meta["std"] == b.meta["std"]


@pytest.mark.parametrize("name", ["ring:12", "grid:3x4", "spiral:arms=3", "moons", "swissroll:noise=0.1"])
def test_every_family_loads_seeded_2d_points(name):
    ds = load_dataset(name, "cpu", seed=1)
    assert ds.x.shape == (MIXTURE_SIZE, 2) and ds.x.dtype == torch.float32 and torch.isfinite(ds.x).all()
    assert torch.equal(ds.x, load_dataset(name, "cpu", seed=1).x)
    assert not torch.equal(ds.x, load_dataset(name, "cpu", seed=2).x)
    assert dataset_spec(name).shape == (2,) and dataset_spec(name).unbounded
    validate_config(RunConfig(dataset=name))


def test_metric_family_is_mixture_for_rings_and_grids_and_points_for_curves():
    for name, family in (("ring:5", "mixture"), ("grid:7", "mixture"), ("spiral", "points"), ("moons", "points"),
                         ("swissroll", "points")):
        assert metric_family(name, dataset_spec(name)) == family


@pytest.mark.parametrize("name", ["ring:5", "ring:16,radius=3,std=0.05", "grid:3", "grid:7,spacing=1.5,std=0.03"])
def test_a_perfect_sampler_covers_every_mode_at_98_9_percent_high_quality(name):
    f = parse_family(name)
    ds = load_dataset(name, "cpu", seed=0)
    perfect = torch.from_numpy(f.sample(2500, seed=99))  # the true mixture, drawn apart from the training points
    m = metrics_for(name, perfect, ds.spec, device="cpu", dataset=ds)
    assert m["modes_covered"] == m["modes_total"] == len(f.centres())
    assert m["high_quality_rate"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)  # 98.9%


def test_a_collapsed_sampler_is_caught_on_any_ring():
    ds = load_dataset("ring:12", "cpu")
    one_mode = torch.from_numpy(np.tile(ds.meta["centres"][0], (2500, 1)).astype(np.float32))
    m = metrics_for("ring:12", one_mode, ds.spec, device="cpu", dataset=ds)
    assert m["modes_covered"] == 1 and m["modes_total"] == 12


def test_curves_are_scored_by_the_distribution_metrics_against_held_out_points():
    ds = load_dataset("spiral", "cpu")
    assert ds.held_out is not None and len(ds.held_out) >= 2000
    train = {tuple(p) for p in ds.x[:50_000].tolist()}
    assert not any(tuple(p) in train for p in ds.held_out[:2000].tolist()), "held-out points are fresh draws"
    f = parse_family("spiral")
    good = metrics_for("spiral", torch.from_numpy(f.sample(2000, seed=7)), ds.spec, device="cpu", dataset=ds)
    noise = metrics_for("spiral", torch.randn(2000, 2) * 3, ds.spec, device="cpu", dataset=ds)
    assert good["sliced_wasserstein"] < 3 * good["sliced_wasserstein_floor"]
    assert noise["sliced_wasserstein"] > 10 * good["sliced_wasserstein_floor"]


@pytest.mark.parametrize("name, words", [
    ("ring:1", ["n", "2 to 64", "got 1"]),
    ("ring:65", ["n", "2 to 64"]),
    ("ring:2.5", ["whole number"]),
    ("grid:13", ["rows", "2 to 12"]),
    ("grid:3x1", ["cols", "2 to 12"]),
    ("ring:8,std=0", ["std", "above 0"]),
    ("ring:64,std=0.1", ["half the distance between neighbouring centres"]),
    ("grid:4,spacing=1,std=0.5", ["half the spacing"]),
    ("ring:8,colour=3", ["unknown parameter 'colour'", "n, radius, std"]),
    ("ring:abc", ["'abc' is not a number"]),
    ("ring:8,radius=inf", ["finite"]),
    ("ring:8,n=9", ["given twice"]),
    ("spiral:3", ["needs a name"]),
    ("moons:noise=2", ["noise", "0 to 1"]),
    ("ring:8,,std=0.1", ["empty parameter"]),
])
def test_bad_parameters_are_refused_in_one_sentence(name, words):
    with pytest.raises(DataError) as e:
        parse_family(name)
    text = str(e.value)
    assert "\n" not in text and all(w in text for w in words), text


def test_names_that_are_not_families_are_left_to_the_other_datasets():
    for name in ("ring8", "grid25", "mnist", "points:x.csv", "hdf5:x.h5", "rings:8"):
        assert parse_family(name) is None


def test_unknown_dataset_names_the_families():
    with pytest.raises(DataError) as e:
        dataset_spec("spirals")
    assert all(f.name in str(e.value) for f in FAMILIES) and "ring:N" in str(e.value)


def test_family_name_writes_only_what_is_off_the_defaults():
    assert family_name("ring", {"n": 12, "radius": 2.0, "std": 0.02}) == "ring:12"
    assert family_name("grid", {"rows": 3, "cols": 4, "spacing": 2.0, "std": 0.1}) == "grid:3x4,std=0.1"
    assert family_name("moons", {"noise": 0.1}) == "moons"
    for name in ("ring:12,radius=3", "grid:3x4,std=0.1", "spiral:arms=3"):
        f = parse_family(name)
        assert parse_family(family_name(f.kind, f.values)) == f


def test_cli_trains_on_a_family_and_refuses_a_bad_one_in_one_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    rc = main(["train", "--dataset", "ring:12", "--steps", "20", "--runs-dir", str(runs), "--quiet",
               "--set", "g_hidden=32", "--set", "d_hidden=32", "--set", "log_every=10"])
    assert rc == 0, capsys.readouterr().err
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    assert run_dir.name.startswith("00000-ring_12-")
    assert json.loads((run_dir / "config.json").read_text())["dataset"] == "ring:12"
    capsys.readouterr()
    assert main(["train", "--dataset", "ring:1", "--steps", "20", "--runs-dir", str(runs), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 to 64" in err and "Traceback" not in err
    assert len([p for p in runs.iterdir() if p.is_dir()]) == 1, "no run directory for a refused dataset"
