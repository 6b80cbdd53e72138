"""The quality study's plumbing: the plan (presets, baselines and the default recipe x seeds x threads), the worst
case over seeds x threads, A/B time ratios, --record and what ganlab.config.timing reads back, and one real tiny
study with metrics during training; a killed driver's workers end with it."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import quality
from ganlab import cli
from ganlab.config import timing


def _row(recipe="default", dataset="ring:5", seed=0, threads=1, modes=5, hq=0.97, reached=None, train_s=10.0, **extra):
    return {"recipe": recipe, "source": "recipe" if recipe == "default" else "preset", "dataset": dataset,
            "family": "mixture", "loss": "bce", "seed": seed, "threads": threads, "steps": 1000, "train_s": train_s,
            "modes_covered": modes, "modes_total": 5, "high_quality_rate": hq, "reverse_kl": 0.01, "spread": 0.9,
            "reached": reached or {}, **extra}


def test_defaults_are_five_seeds_at_the_dashboards_and_the_clis_thread_counts():
    a = quality.parse_args([])
    assert a.seeds == [0, 1, 2, 3, 4] and a.threads == [1, 2] and a.presets == quality.DEFAULT_PRESETS.split(",")
    a = quality.parse_args(["--datasets", "ring:5,grid:7"])
    assert a.presets == [] and a.datasets == ["ring:5", "grid:7"]


def test_a_familys_own_parameters_stay_with_it():
    assert quality.split_datasets("ring:12,radius=3,std=0.05,grid:7,mnist") == ["ring:12,radius=3,std=0.05", "grid:7",
                                                                                "mnist"]
    assert quality.split_datasets("ring:5;grid:3x4,spacing=1") == ["ring:5", "grid:3x4,spacing=1"]


def test_the_plan_is_every_source_x_seed_x_thread_count_and_a_recipe_row_is_what_the_cli_builds():
    jobs = quality.plan(["ring8-v0"], [0, 1, 2], [], False, datasets=["ring:5"], threads=[1, 2])
    assert len(jobs) == 2 * 3 * 2
    assert {(j["source"], j["dataset"], j["threads"], j["overrides"]["seed"]) for j in jobs} == {
        (src, d, t, s) for src, d in (("baseline", "ring8"), ("recipe", "ring:5")) for t in (1, 2) for s in (0, 1, 2)}
    job = next(j for j in jobs if j["source"] == "recipe" and j["overrides"]["seed"] == 2)
    by_cli = cli._train_config(cli.build_parser().parse_args(["train", "--dataset", "ring:5", "--seed", "2"]))
    assert quality._base_config(job) == by_cli and by_cli.recipe  # the recipe the CLI applies, not RunConfig's defaults
    cfg = quality.job_config(job)
    assert cfg.eval_every == quality.EVAL_EVERY["mixture"] and cfg.steps == by_cli.steps
    baseline = quality._base_config(next(j for j in jobs if j["source"] == "baseline"))
    assert baseline.preset == "ring8-v0" and baseline.steps == 12000 and baseline.g_hidden == (256, 256, 256)


def test_the_worst_case_is_over_seeds_and_threads_and_a_threshold_counts_only_when_every_run_reached_it():
    rows = [_row(seed=0, threads=1, reached={"modes": [200, 2.0], "hq95": [800, 8.0]}),
            _row(seed=1, threads=2, modes=4, hq=0.91, reached={"modes": [600, 5.0]}),
            _row(seed=0, threads=2, reached={"modes": [400, 9.0], "hq95": [1000, 12.5]})]
    (s,) = quality.summaries(rows)
    assert (s["min_modes"], s["min_hq"], s["runs"], s["threads"]) == (4, 0.91, 3, [1, 2])
    assert s["reached"]["modes"] == {"runs": 3, "of": 3, "latest_step": 600, "latest_s": 9.0, "mean_s": pytest.approx(16 / 3)}
    assert s["reached"]["hq95"]["runs"] == 2 and s["reached"]["hq97"]["runs"] == 0
    line = quality.summary_line(s)
    assert "min modes 4/5, min HQ 91.0%" in line and "modes by step 600 / 9 s" in line and "hq95 in 2/3" in line


def test_fd_and_sliced_wasserstein_worst_cases():
    img = {"family": "classifier", "class_coverage": 10, "classes_total": 10, "fd_real_split": 2.0}
    rows = [{**_row(recipe="digits", dataset="digits"), **img, "fd": 3.0},
            {**_row(recipe="digits", dataset="digits", seed=1), **img, "class_coverage": 9, "fd": 5.0}]
    for r in rows:
        del r["modes_total"]
    (s,) = quality.summaries(rows)
    assert (s["min_classes"], s["max_fd"], s["fd_floor"]) == (9, 5.0, 2.0)
    pts = [dict(_row(dataset="spiral"), family="points", sliced_wasserstein=sw, sliced_wasserstein_floor=0.01)
           for sw in (0.015, 0.03)]
    (s,) = quality.summaries(pts)
    assert s["max_sw_ratio"] == pytest.approx(3.0)
    assert quality.row_cells(pts[0])[quality.HEADER.index("SW")] == "1.50x"


def test_compare_is_the_ratio_of_mean_seconds_to_each_threshold_on_a_shared_dataset():
    rows = [_row(dataset="ring8", seed=s, reached={"hq95": [1000, t]}, train_s=40.0) for s, t in ((0, 10.0), (1, 20.0))]
    rows += [_row(recipe="ring8-v0", dataset="ring8", seed=s, reached={"hq95": [3000, t], "modes": [100, 1.0]},
                  train_s=100.0) for s, t in ((0, 50.0), (1, 70.0))]
    (e,) = quality.compare(rows, "default", "ring8-v0")
    assert e["thresholds"]["hq95"]["ratio"] == pytest.approx(15 / 60)
    assert "ratio" not in e["thresholds"]["modes"] and e["end"]["ratio"] == pytest.approx(0.4)
    (line,) = quality.compare_lines([e])
    assert "hq95 15 s / 60 s = 0.25x" in line and "modes reached by 0/2 vs 2/2" in line
    assert e["thresholds"]["hq95"]["vs_b_run"] == pytest.approx(15 / 100)  # against the baseline's whole run
    assert "over ring8-v0's whole run: hq95 0.15x" in line
    assert quality.compare(rows, "default", "grid25-v0") == []


def test_record_writes_what_expected_time_reads(tmp_path):
    path = tmp_path / "expected.json"
    from ganlab.config.recipes_points import POINTS

    rows = [_row(dataset="ring:5", seed=s, reached={"hq95": [step, t]}, train_s=30.0 + s)
            for s, step, t in ((0, 400, 8.0), (1, 600, 12.0))]
    for r in rows:
        r.update(recipe="points", loss=POINTS["loss"])  # what the recipe trains: an entry is for its loss
    path.write_text(json.dumps({"measured": [{"recipe": "grid25", "dataset": "grid25", "loss": "bce", "threads": 1,
                                              "seconds_to_end": 99.0, "steps": 10}]}))
    (entry,) = quality.record(rows, path)
    assert (entry["threshold"], entry["seconds_to_threshold"], entry["worst_step_to_threshold"]) == ("hq95", 10.0, 600)
    doc = json.loads(path.read_text())
    assert [e["recipe"] for e in doc["measured"]] == ["grid25", "points"]  # the other study's entry is kept
    cfg = cli._train_config(cli.build_parser().parse_args(["train", "--dataset", "ring:12", "--steps", "2000"]))
    got = timing.expected_time(cfg.replace(recipe="points", dataset="ring:5"), threads=1, path=path)
    assert got is not None and got.measured_on == "ring:5" and got.seconds_to_threshold == 10.0
    assert got.seconds_to_end == pytest.approx(30.5 * 2000 / 1000) and got.cpu == quality.cpu_model()
    other = timing.expected_time(cfg.replace(recipe="points"), threads=1, path=path)  # ring:12: another ring
    assert other.measured_on == "ring:5" and other.seconds_to_end == got.seconds_to_end
    assert other.seconds_to_threshold is None and other.threshold == ""  # how soon quality comes is not transferred
    assert "to the last step; measured on ring:5" in other.summary() and "hq95" not in other.summary()
    assert timing.expected_time(cfg.replace(recipe="points", dataset="ring:5", steps=500),
                                path=path).seconds_to_threshold is None
    assert timing.expected_time(cfg.replace(recipe="points", dataset="spiral"), path=path) is None
    assert timing.expected_time(cfg.replace(recipe="", preset=""), path=path) is None


def test_a_tiny_real_study_has_metric_rows_during_training_and_final_figures(capsys, tmp_path):
    assert quality.main(["--presets", "ring8", "--datasets", "ring:5", "--seeds", "0", "--threads", "1", "--jobs", "1",
                         "--json", "--runs-dir", str(tmp_path), "--eval-every", "20", "--set", "steps=40",
                         "--set", "g_hidden=16,16", "--set", "d_hidden=16", "--compare", "default,ring8",
                         "--set", "loss=bce"]) == 0  # BCE: D is a probability, so the DRS figures are made too
    out = json.loads(capsys.readouterr().out)
    preset_row, recipe_row = out["rows"]
    assert preset_row["recipe"] == "ring8" and recipe_row["source"] == "recipe" and recipe_row["dataset"] == "ring:5"
    for row in out["rows"]:
        assert row["steps"] == 40 and row["eval_every"] == 20 and row["threads"] == 1 and isinstance(row["reached"], dict)
        assert 0 < row["train_s"] <= row["wall_s"] and math.isfinite(row["high_quality_rate"])
    assert set(preset_row["drs"]) == {"modes_covered", "high_quality_rate", "reverse_kl", "acceptance_rate"}
    metrics = [json.loads(line) for p in tmp_path.glob("*/metrics.jsonl") for line in p.read_text().splitlines()]
    assert sorted(m["step"] for m in metrics) == [20, 20, 40, 40] and all(m["time"] > 0 for m in metrics)
    assert [s["runs"] for s in out["summaries"]] == [1, 1] and out["compare"] == []


def test_the_expected_time_reads_as_one_sentence():
    e = timing.Expected("hq95", "every mode, 95% high quality", 40.0, 61.0, 150.0, "ring:5", 1, 5, "2026-12-01", "Xeon")
    assert e.summary() == ("about 40 s to every mode, 95% high quality (hq95), at most 61 s, about 2.5 min to the last "
                           "step; measured on ring:5 (5 seeds, 1 thread, Xeon, 2026-12-01)")
    unreached = timing.Expected("hq95", "every mode, 95% high quality", None, None, 30.0, "ring8", 2, 1, "", "")
    assert unreached.summary().startswith("every mode, 95% high quality (hq95) was not reached by every measured seed")


_DRIVER = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from bench.quality import _die_with_parent
from tests.test_bench_quality import _write_pid_and_wait

if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        pool.submit(_write_pid_and_wait, sys.argv[1]).result()
"""


def _write_pid_and_wait(path: str) -> None:
    """A worker's job that outlives any test: it says who it is, then waits."""
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_driver_takes_its_spawned_workers_with_it(tmp_path):
    """SIGKILL skips every shutdown the pool has; before the initializer its worker trained on, unseen."""
    (tmp_path / "driver.py").write_text(_DRIVER)
    pid_file = tmp_path / "worker.pid"
    root = Path(__file__).resolve().parents[1]
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(pid_file)], cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert driver.poll() is None and time.monotonic() < deadline, "the worker never started"
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        assert _alive(worker)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its killed driver"
    finally:
        driver.kill()
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
