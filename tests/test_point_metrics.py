"""The "points" metric family: sliced Wasserstein, energy distance and (2-D) histogram KL/JS against held-out
points, each beside its real-vs-real floor, on known cases; and `eval --json` and eval ticks score points runs."""

import json
import math

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.data import load_dataset
from ganlab.data.mixtures import ring8, ring8_centres, sample_mixture
from ganlab.evaluation import distances
from ganlab.evaluation.evaluate import METRIC_FAMILIES, metrics_for
from ganlab.store import Run

RING = ring8_centres()
STD = 0.05


def _ring(n, seed, centres=RING):
    return sample_mixture(centres, STD, n, seed)


@pytest.fixture(scope="module")
def real_and_reference():
    return _ring(2000, 1), _ring(2000, 2)


def _scores(fake, real_and_reference):
    real, reference = real_and_reference
    return distances.distribution_metrics(fake, real, reference)


KEYS = ("sliced_wasserstein", "energy_distance", "hist_kl", "hist_js")


def test_the_same_distribution_scores_at_the_floor(real_and_reference):
    m = _scores(_ring(2000, 3), real_and_reference)
    for k in KEYS:
        assert 0.6 * m[f"{k}_floor"] < m[k] < 1.6 * m[f"{k}_floor"], (k, m[k], m[f"{k}_floor"])
    assert m["n_fake"] == m["n_held_out"] == m["n_reference"] == 2000 and "floor" in m["floor_note"]


def test_a_shifted_set_scores_far_above_the_floor(real_and_reference):
    m = _scores(_ring(2000, 3) + np.float32(0.5), real_and_reference)
    assert m["sliced_wasserstein"] > 2.5 * m["sliced_wasserstein_floor"]
    assert m["energy_distance"] > 8 * m["energy_distance_floor"]
    assert m["hist_js"] > 50 * m["hist_js_floor"]


def test_one_missing_cluster_of_eight_is_clearly_above_the_floor(real_and_reference):
    m = _scores(_ring(2000, 3, RING[1:]), real_and_reference)
    for k, factor in (("sliced_wasserstein", 1.8), ("energy_distance", 3.0), ("hist_kl", 10.0), ("hist_js", 5.0)):
        assert m[k] > factor * m[f"{k}_floor"], (k, m[k], m[f"{k}_floor"])
    closer = _scores(_ring(2000, 3, RING[np.r_[0:7, 0]]), real_and_reference)  # mode 8's mass moved to mode 1
    assert m["energy_distance"] > 0.5 * closer["energy_distance"] > 0


def test_distances_scale_with_the_data_and_the_histogram_does_not(real_and_reference):
    real, reference = real_and_reference
    fake = _ring(2000, 3, RING[1:])
    m, m10 = (distances.distribution_metrics(fake * s, real * s, reference * s) for s in (1.0, 10.0))
    for k in ("sliced_wasserstein", "energy_distance"):
        assert m10[k] == pytest.approx(10 * m[k], rel=1e-4) and m10[f"{k}_floor"] == pytest.approx(10 * m[f"{k}_floor"],
                                                                                                rel=1e-4)
    for k in ("hist_kl", "hist_js"):
        assert m10[k] == pytest.approx(m[k], rel=1e-6)


def test_known_values_and_determinism():
    a = np.zeros((1, 2))
    b = np.array([[3.0, 0.0]])
    assert distances.energy_distance(a, b) == pytest.approx(2 * 3.0)  # 2|x-y| - 0 - 0
    x = _ring(500, 0)
    assert distances.energy_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert distances.sliced_wasserstein(x, x) == 0.0
    sw = distances.sliced_wasserstein(a, b)
    assert sw == pytest.approx(3 * math.sqrt(0.5), rel=0.1)  # E[cos^2] over random directions is 1/2
    assert sw == distances.sliced_wasserstein(a, b)  # the same 128 seeded directions every call
    assert distances.sliced_wasserstein(a, b, seed=1) != sw
    one_d = distances.sliced_wasserstein(np.zeros((10, 1)), np.full((7, 1), 2.0))  # any sizes; 1-D: W2 exactly
    assert one_d == pytest.approx(2.0)
    high = distances.distribution_metrics(np.ones((50, 5)), np.zeros((40, 5)), np.zeros((50, 5)))
    assert "hist_kl" not in high and high["energy_distance"] == pytest.approx(2 * math.sqrt(5))


def test_a_diverged_generator_scores_nan_and_keeps_the_floor(real_and_reference):
    fake = _ring(2000, 3)
    fake[5] = np.nan
    m = _scores(fake, real_and_reference)
    assert math.isnan(m["sliced_wasserstein"]) and math.isnan(m["energy_distance"])
    assert m["sliced_wasserstein_floor"] > 0


def test_point_data_without_a_held_out_split_gets_two_disjoint_draws():
    """The family is offered for any point data: ring8 (100,000 points) through the same function."""
    ds = ring8("cpu")
    m = METRIC_FAMILIES.get("points")(torch.from_numpy(_ring(2000, 9, RING * 1.0)), ds, "ring8", None)
    assert m["n_held_out"] == m["n_reference"] == 2000
    assert m["sliced_wasserstein"] < 3 * m["sliced_wasserstein_floor"]


# ---------------------------------------------------------------- runs: eval --json and eval ticks

@pytest.fixture(scope="module")
def points_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("points-run")
    np.save(d / "ring.npy", _ring(1000, 0))
    runs = d / "runs"
    rc = main(["train", "--dataset", f"points:{d / 'ring.npy'}", "--steps", "40", "--runs-dir", str(runs), "--quiet",
               "--set", "eval_every=20", "--set", "log_every=20", "--set", "g_hidden=16", "--set", "d_hidden=16"])
    assert rc == 0
    return Run(next(runs.iterdir())), d / "ring.npy"


def test_eval_json_scores_a_points_run(points_run, capsys):
    run, _ = points_run
    assert main(["eval", str(run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for k in KEYS:
        assert isinstance(out[k], float) and out[f"{k}_floor"] > 0
    assert out["n_held_out"] == 100 and out["n_reference"] == 900 and out["n_fake"] == 2000
    # after 40 steps G is nowhere near the ring: well above what a perfect G scores
    assert out["sliced_wasserstein"] > 2 * out["sliced_wasserstein_floor"]


def test_eval_ticks_score_a_points_run(points_run):
    run, _ = points_run
    lines = [json.loads(s) for s in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [20, 40] and all("energy_distance_floor" in r for r in lines)
    ticks = [r for r in run.history() if "Metric/sliced_wasserstein" in r]
    assert [r["step"] for r in ticks] == [20, 40]


def test_metrics_are_measured_on_the_held_out_points(points_run):
    _, path = points_run
    ds = load_dataset(f"points:{path}", "cpu")
    held = ds.held_out.numpy()
    perfect = metrics_for(f"points:{path}", torch.from_numpy(held.copy()), ds.spec, device="cpu", dataset=ds)
    assert perfect["sliced_wasserstein"] == 0.0 and perfect["energy_distance"] == pytest.approx(0.0, abs=1e-6)
