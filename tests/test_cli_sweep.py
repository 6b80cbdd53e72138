"""`python -m ganlab sweep` / `sweeps`: bad input is one line and exit 2 before Ray starts; a sweep killed with
SIGKILL resumes by running the same command again and trains only what was missing (issue #19's done-when)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganlab import cli
from ganlab.store import Run
from ganlab.sweeps import launch, load_sweep
from ganlab.sweeps.cli import spec_from_args

ROOT = Path(__file__).resolve().parents[1]
# the issue's command on a tiny scale (it says --steps 200; 60 keeps the test short)
ISSUE = ["sweep", "--preset", "ring8", "--grid", "loss=bce,hinge", "--seeds", "0,1", "--steps", "60"]


@pytest.fixture
def no_ray(monkeypatch):
    """Bad input must be refused before Ray starts: starting it fails the test."""
    import ganlab.sweeps.driver as driver

    def refuse(*a, **k):
        raise AssertionError("Ray was started for input that should have been refused")

    monkeypatch.setattr(driver, "start_ray", refuse)


@pytest.mark.parametrize("flags, words", [
    (["--grid", "nonsense=1,2"], "unknown config field 'nonsense'"),
    (["--grid", "d_steps=1,two"], "d_steps: expected a whole number, got 'two'"),
    (["--grid", "lr_d=0.001,-1"], "lr_d"),  # coerced fine, refused by the config's own validation
    (["--grid", "loss="], "--grid loss has no values"),
    (["--grid", "loss=bce,nope"], "--grid loss: 'nope' is not one of bce, bce-minimax,"),
    (["--grid", "loss=bce,bce"], "--grid loss: 'bce' is listed twice"),
    (["--grid", "preset=ring8,moons"], "--grid preset cannot be varied"),
    (["--grid", "seed=0,1"], "--grid seed cannot be varied"),
    (["--samples", "3", "--range", "loss=0:1"], "not a number field"),
    (["--scheduler", "asha"], "--scheduler asha needs --metric"),
    (["--scheduler", "asha", "--metric", "fd"], "'fd' is not reported for ring8"),
    (["--metric", "high_quality_rate", "--mode", "up"], "--mode must be max or min"),
    (["--seeds", "a,b"], "--seeds: 'a' is not a whole number from 0"),
    (["--seeds=-1"], "--seeds: '-1' is not a whole number from 0"),
    (["--seeds", "0-4,2"], "--seeds: seed 2 is listed twice"),
    (["--seeds", "4-0"], "--seeds: the range 4-0 runs backwards"),
    (["--seeds", "0-99999"], "--seeds: '0-99999' is too many seeds"),
    (["--seeds", ""], "--seeds: type at least one seed"),
    (["--lr-scale", "0.5"], "--lr-scale does not go with sweep"),
])
def test_bad_input_is_one_line_and_exit_2(no_ray, tmp_path, capsys, flags, words):
    code = cli.main(["sweep", "--preset", "ring8", "--steps", "60", "--runs-dir", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("ganlab: error: "), err
    assert words in err, err
    assert "Traceback" not in err and not (tmp_path / "sweeps").exists()


def test_unknown_sweep_to_resume_and_empty_list(no_ray, tmp_path, capsys):
    assert cli.main(["sweep", "--resume", "nope-123", "--runs-dir", str(tmp_path)]) == 2
    assert "no sweep 'nope-123'" in capsys.readouterr().err
    assert cli.main(["sweep", "--resume", "nope-123", "--grid", "loss=bce", "--runs-dir", str(tmp_path)]) == 2
    assert "--grid cannot go with --resume" in capsys.readouterr().err
    assert cli.main(["sweeps", "--runs-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def _ganlab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganlab", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kill_a_worker(trials, driver_pid: int):
    """SIGKILL the Ray worker training a trial (its run's status.json names it); the trial, or None when none runs."""
    for t in trials:
        if t.state == "running" and t.run_id:
            owner = str(Run.open(t.run_path).status().get("owner", "")).rsplit(":", 2)  # host:pid:start
            pid = int(owner[1]) if len(owner) == 3 and owner[1].isdigit() else 0
            if pid and pid != driver_pid:
                os.kill(pid, signal.SIGKILL)
                return t
    return None


def test_a_killed_sweep_resumes_with_the_same_command_and_redoes_nothing(tmp_path, capsys):
    """Start the issue's sweep as the Sweeps page does (launch: a detached driver), SIGKILL one trial's Ray
    worker while it trains, SIGKILL the driver once a trial has finished, run the same command again: the
    finished trials are not trained again (their files are byte for byte the same), the lost worker's trial
    goes on in its own run, no trial gets a second run, all four end finished with metrics, and `ganlab runs`
    / `ganlab sweeps` list them."""
    runs = tmp_path / "runs"
    spec = spec_from_args(cli.build_parser().parse_args([*ISSUE, "--runs-dir", str(runs)]), cli._train_config)
    sweep_id, proc = launch(spec, runs)
    try:
        deadline, lost, done = time.monotonic() + 240, None, []
        while time.monotonic() < deadline and proc.poll() is None:
            trials = load_sweep(runs, sweep_id).trials
            if lost is None:
                lost = _kill_a_worker(trials, proc.pid)  # a lost worker: Tune tries its trial again
            done = [t for t in trials if t.state == "finished"]
            if done and lost is not None:
                break
            time.sleep(0.05)
        log = (runs / "sweeps" / sweep_id / "driver.log").read_text()[-2000:]
        assert lost is not None and done, f"no worker to kill or no trial finished: {log}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:  # what Ray left of the killed driver's local cluster (its own process group)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed = load_sweep(runs, sweep_id)
    assert killed.state == "interrupted"
    finished = {t.key: t for t in killed.trials if t.state == "finished"}
    files = {key: {name: _digest(Path(t.run_path) / name) for name in ("stats.jsonl", "metrics.jsonl", "status.json")}
             for key, t in finished.items()}

    again = _ganlab(*ISSUE, "--runs-dir", str(runs))
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines()[0] == f"sweep {sweep_id}: 4 trials, {len(finished)} already done; runs in {runs}"
    info = load_sweep(runs, sweep_id)
    assert info.state == "finished" and [t.state for t in info.trials] == ["finished"] * 4
    assert all(t.step == 60 and "high_quality_rate" in t.metrics for t in info.trials)
    for key, t in finished.items():  # not trained again
        now = next(i for i in info.trials if i.key == key)
        assert now.run_id == t.run_id
        assert {name: _digest(Path(now.run_path) / name) for name in files[key]} == files[key]
    retried = next(i for i in info.trials if i.key == lost.key)  # the lost worker's trial went on in its own run
    assert retried.run_id == lost.run_id
    steps = [r["step"] for r in Run.open(retried.run_path).history()]
    assert steps == sorted(set(steps)) and steps[-1] == 60  # trained again from its checkpoint, no step twice
    ran = sorted(p.name for p in runs.iterdir() if p.name != "sweeps")
    assert ran == sorted(t.run_id for t in info.trials)  # one run per trial, none abandoned or doubled
    table = again.stdout.splitlines()[-5:]
    assert table[0].split() == ["trial", "state", "run", "params", "seed", "step", "high_quality_rate"]

    capsys.readouterr()
    assert cli.main(["runs", "--runs-dir", str(runs)]) == 0
    assert sorted(line.split("\t")[0] for line in capsys.readouterr().out.splitlines()) == ran
    assert cli.main(["sweeps", "--runs-dir", str(runs)]) == 0
    sweeps = capsys.readouterr().out.splitlines()
    assert len(sweeps) == 1 and sweeps[0].startswith(f"{sweep_id}\tring8 loss=bce,hinge seeds 0,1\t4/4 done\tfinished\t")
    assert not (runs / "sweeps" / sweep_id / "tune").exists()  # Tune's files go at the end
    trials = json.loads((runs / "sweeps" / sweep_id / "trials.json").read_text())
    assert sorted(v["run_id"] for v in trials.values()) == ran
