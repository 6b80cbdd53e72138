"""ganlab.sweeps: a spec expands to the same trials every time, and Ray Tune runs them as ordinary runs.

The spec tests need no Ray. The Ray tests share one embedded local cluster for the module (its
start-up is the slow part on two cores) and train tiny point GANs.
"""

from __future__ import annotations

import json

import pytest

from ganlab.config import RunConfig
from ganlab.errors import ConfigError
from ganlab.store import Run, list_runs
from ganlab.sweeps import SweepDir, SweepSpec, load_sweep, parse_grid, parse_range, parse_seeds, run_sweep, trial_key
from ganlab.sweeps.metrics import FAMILY_METRICS, check_metric
from ganlab.sweeps.spec import MAX_TRIALS, parse_values

BASE = {"dataset": "ring8", "steps": 60, "log_every": 20, "g_hidden": [32], "d_hidden": [32]}


# ------------------------------------------------------------------ the spec
def test_grid_times_seeds_expands_in_a_fixed_order_with_stable_keys():
    spec = SweepSpec(base=BASE, grid=parse_grid(["loss=bce,hinge", "d_steps=1,2"]), seeds=parse_seeds("0,1"))
    trials = spec.trials()
    assert len(trials) == 8 == spec.size()
    assert [(t.params["loss"], t.params["d_steps"], t.seed) for t in trials[:4]] == [
        ("bce", 1, 0), ("bce", 1, 1), ("bce", 2, 0), ("bce", 2, 1)]
    assert all(t.config.loss == t.params["loss"] and t.config.seed == t.seed for t in trials)
    assert len({t.key for t in trials}) == 8
    assert all(t.key == trial_key(t.config) for t in trials)
    again = SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict())))  # spec.json's round trip
    assert [t.key for t in again.trials()] == [t.key for t in trials]
    assert again.sweep_id() == spec.sweep_id()
    # how many run at once does not change which trials a sweep has; what it varies does
    assert SweepSpec(base=BASE, grid=spec.grid, seeds=[0, 1], max_concurrent=1).sweep_id() == spec.sweep_id()
    assert SweepSpec(base=BASE, grid=spec.grid, seeds=[0, 2]).sweep_id() != spec.sweep_id()
    # a trial's key is its config's: the same config in another sweep has the same key
    other = SweepSpec(base={**BASE, "loss": "hinge", "d_steps": 2}, seeds=[1]).trials()
    assert other[0].key == trials[7].key


def test_every_trial_is_scored():
    """Without eval_every a trial is evaluated at its end (the Sweeps table's metrics); ASHA needs rungs."""
    assert SweepSpec(base=BASE).trials()[0].config.eval_every == 60
    assert SweepSpec(base=BASE, scheduler="asha", metric="modes_covered").base["eval_every"] == 7
    assert SweepSpec(base={**BASE, "eval_every": 20}).base["eval_every"] == 20


def test_list_fields_take_semicolons_and_seeds_take_ranges():
    assert parse_grid(["g_hidden=64,64;128"]) == {"g_hidden": [(64, 64), (128,)]}
    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    assert SweepSpec(base={**BASE, "seed": 7}).seed_list() == [7]


def test_random_search_draws_the_same_trials_from_the_same_seed():
    ranges = parse_range(["lr_d=1e-4:1e-2:log", "d_steps=1:4", "beta1=0.0:0.9"])
    spec = SweepSpec(base=BASE, grid={"loss": ["bce", "hinge"]}, samples=5, ranges=ranges, sample_seed=3)
    trials = spec.trials()
    assert len(trials) == 10
    assert [t.key for t in SweepSpec(base=BASE, grid={"loss": ["bce", "hinge"]}, samples=5, ranges=ranges,
                                     sample_seed=3).trials()] == [t.key for t in trials]
    for t in trials:
        assert 1e-4 <= t.params["lr_d"] <= 1e-2 and 0.0 <= t.params["beta1"] <= 0.9
        assert isinstance(t.params["d_steps"], int) and 1 <= t.params["d_steps"] <= 4
    assert len({t.params["lr_d"] for t in trials}) == 5  # each draw crossed with both losses
    other = SweepSpec(base=BASE, samples=5, ranges=ranges, sample_seed=4).trials()
    assert [t.params for t in other] != [t.params for t in trials[::2]]


@pytest.mark.parametrize("build, words", [
    (lambda: parse_grid(["nonsense=1,2"]), "unknown config field"),
    (lambda: parse_grid(["d_steps=1,x"]), "d_steps: expected a whole number"),
    (lambda: parse_grid(["loss="]), "has no values"),
    (lambda: parse_range(["loss=0:1"]), "not a number field"),
    (lambda: parse_range(["lr_d=0:1e-2:log"]), "log range needs LOW above 0"),
    (lambda: parse_range(["lr_d=1:0.1"]), "LOW must be below HIGH"),
    (lambda: SweepSpec(base=BASE, grid={"seed": [1, 2]}), "--seeds"),
    (lambda: SweepSpec(base=BASE, scheduler="asha"), "needs --metric"),
    (lambda: SweepSpec(base=BASE, ranges=parse_range(["lr_d=1e-4:1e-3"])), "needs --samples"),
    (lambda: SweepSpec(base={**BASE, "colour": 1}), "unknown config field"),
])
def test_bad_specs_are_one_sentence(build, words):
    with pytest.raises(ConfigError, match=words):
        build()


# the CLI's side of the typed values and seeds; the Sweeps page parses with the same functions (test_app_sweeps checks
# that each of these reads the same there, named by the box instead of the flag)
@pytest.mark.parametrize("build, message", [
    (lambda: parse_grid(["loss=bce,nope"]), "--grid loss: 'nope' is not one of bce, bce-minimax,"),
    (lambda: parse_grid(["optimizer=adam,fast"]), "--grid optimizer: 'fast' is not one of adam, sgd, rmsprop"),
    (lambda: parse_grid(["loss=bce,hinge,bce"]), "--grid loss: 'bce' is listed twice; list each value once"),
    (lambda: parse_grid(["lr_d=1e-3,0.001"]), "--grid lr_d: 0.001 is listed twice"),  # equal once coerced
    (lambda: parse_grid(["seed=1,2"]), "--grid seed cannot be varied: list the seeds on their own"),
    (lambda: parse_grid(["preset=ring8,moons"]), "--grid preset cannot be varied: a preset is the base"),
    (lambda: parse_grid(["nonsense=1"]), "--grid: unknown config field 'nonsense'"),
    (lambda: parse_grid(["loss= , "]), "--grid loss has no values; type at least one value, separated by commas"),
    (lambda: parse_grid(["g_hidden=;"]), "--grid g_hidden has no values; type at least one value, separated by semicolons"),
    (lambda: parse_grid(["loss=bce", "loss=hinge"]), "--grid loss is given twice"),
    (lambda: parse_seeds("0-4,2"), "--seeds: seed 2 is listed twice; list each seed once"),
    (lambda: parse_seeds("-1"), "--seeds: '-1' is not a whole number from 0"),
    (lambda: parse_seeds("0,x"), "--seeds: 'x' is not a whole number from 0; type seeds as 0,1,2 or 0-4"),
    (lambda: parse_seeds("1_000"), "--seeds: '1_000' is not a whole number"),
    (lambda: parse_seeds("4-0"), "--seeds: the range 4-0 runs backwards; write 0-4"),
    (lambda: parse_seeds(f"0-{MAX_TRIALS}"), f"--seeds: '0-{MAX_TRIALS}' is too many seeds (at most {MAX_TRIALS:,})"),
    (lambda: parse_seeds(f"0-4999,5000-{MAX_TRIALS}"), "is too many seeds"),  # the cap is on all of them
    (lambda: parse_seeds("9" * 5000), "is too large; a seed is at most 9223372036854775807"),
    (lambda: parse_seeds(str(2**63)), "is too large"),
    (lambda: parse_seeds(" , "), "--seeds: type at least one seed"),
    (lambda: parse_seeds(""), "--seeds: type at least one seed"),
])
def test_typed_values_and_seeds_are_refused_naming_the_flag(build, message):
    with pytest.raises(ConfigError) as e:
        build()
    assert message in str(e.value), str(e.value)


def test_typed_values_and_seeds_that_are_fine():
    assert parse_grid(["dataset=ring:5,ring8", "optimizer=adam, sgd", "loss=hinge,bce"]) == {
        "dataset": ["ring:5", "ring8"], "optimizer": ["adam", "sgd"], "loss": ["hinge", "bce"]}  # typed order kept
    assert parse_values("g_hidden", "64,64; 128,128") == [(64, 64), (128, 128)]
    assert parse_seeds("0 - 2, 5,") == [0, 1, 2, 5]  # spaces and an empty part are fine
    assert parse_seeds(None) == []  # --seeds not given: the base config's seed
    assert parse_seeds(str(2**63 - 1)) == [2**63 - 1]
    assert parse_seeds(f"0-{MAX_TRIALS - 1}") == list(range(MAX_TRIALS))


def test_metric_names_are_what_each_family_reports():
    """The table check_metric trusts, against real evaluations of an untrained G (mixture and points families)."""
    from ganlab.evaluation.evaluate import evaluate_trainer, scalar_metrics
    from ganlab.training import Trainer

    for dataset, family in (("ring8", "mixture"), ("moons", "points")):
        trainer = Trainer(RunConfig(dataset=dataset, g_hidden=(8,), d_hidden=(8,), device="cpu"))
        reported = {k.removeprefix("Metric/") for k in scalar_metrics(evaluate_trainer(trainer, n=200))}
        assert {"modes_covered", "sliced_wasserstein"} & reported  # (reverse_kl and spread are None until G covers a mode)
        assert reported <= set(FAMILY_METRICS[family]), (family, reported - set(FAMILY_METRICS[family]))
    check_metric("high_quality_rate", [RunConfig(dataset="ring8")])
    with pytest.raises(ConfigError, match="'fd' is not reported for ring8.*modes_covered"):
        check_metric("fd", [RunConfig(dataset="ring8")])


def test_the_sweeps_folder_is_never_a_run(tmp_path):
    run = Run.create(tmp_path, RunConfig(**{**BASE, "g_hidden": (32,), "d_hidden": (32,)}))
    sweep = SweepDir.for_spec(tmp_path, SweepSpec(base=BASE, seeds=[0]))
    (sweep.path.parent / "config.json").write_text(run.config_path.read_text())  # even one that looks like a run
    assert [r.id for r in list_runs(tmp_path)] == [run.id]
    info = load_sweep(tmp_path, sweep.id)
    assert info.state == "created" and [t.state for t in info.trials] == ["pending"]


# ------------------------------------------------------------------ on Ray
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from ganlab.sweeps.driver import start_ray

    start_ray(num_cpus=2)
    yield
    ray.shutdown()


def test_asha_stops_the_weak_trial_early(ray_cluster, tmp_path):
    """Two trials one after the other: G barely learning (lr_g 1e-7) is far behind at the first rung and ASHA
    stops it there; it ends pruned, its run stopped with a checkpoint, and a rerun does not train it again."""
    base = {"dataset": "moons", "arch": "mlp", "loss": "bce", "steps": 150, "log_every": 25, "eval_every": 25,
            "g_hidden": [32, 32], "d_hidden": [32, 32], "lr_d": 2e-3, "device": "cpu"}
    spec = SweepSpec(base=base, grid={"lr_g": [2e-3, 1e-7]}, seeds=[0], scheduler="asha",
                     metric="sliced_wasserstein", mode="min", max_concurrent=1)
    ended = []
    sweep_id = run_sweep(spec, tmp_path, on_trial_end=ended.append)
    info = load_sweep(tmp_path, sweep_id)
    good, weak = info.trials
    assert (good.state, good.step) == ("finished", 150), good
    assert weak.state == "pruned" and weak.step < 150, weak
    assert weak.metrics["sliced_wasserstein"] > good.metrics["sliced_wasserstein"]
    assert Run.open(weak.run_path).status()["state"] == "stopped"
    assert info.state == "finished" and info.best().key == good.key
    assert sorted(t.key for t in ended) == sorted([good.key, weak.key])
    stats = (Run.open(weak.run_path).stats_path.read_bytes(), Run.open(good.run_path).stats_path.read_bytes())
    assert run_sweep(spec, tmp_path) == sweep_id  # nothing left to do: no trial trains again
    assert (Run.open(weak.run_path).stats_path.read_bytes(), Run.open(good.run_path).stats_path.read_bytes()) == stats
    assert len(list_runs(tmp_path)) == 2
