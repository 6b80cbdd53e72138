"""Fault injection: SIGKILL mid-run and mid-checkpoint, forced NaN, simulated OOM, damaged files, hostile pickles."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.jobs import JobManager
from ganlab.store import NonFiniteWeights, Run, RunError
from ganlab.training import Trainer, train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="ring8", arch="mlp", g_hidden=(16,), d_hidden=(16,), latent_dim=4, batch_size=32,
            log_every=10, snapshot_every=50, checkpoint_every=50, num_fixed=16, device="cpu", seed=0)
CLI_TINY = ["--dataset", "ring8", "--seed", "0", "--device", "cpu", "--batch-size", "32", "--quiet",
            "--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "latent_dim=4", "--set", "log_every=10",
            "--set", "snapshot_every=50", "--set", "checkpoint_every=50", "--set", "num_fixed=16",
            "--set", "recipe="]  # the plain config TINY is: no dataset recipe under it
ENV = {**os.environ, "GANLAB_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _records(run: Run) -> list[dict]:
    """Tick records without the wall-clock fields (those differ between any two runs), nor the session's Div/*
    watch (a run trained by train() alone has none; tests/test_game_store.py checks them)."""
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s") and not k.startswith("Div/")}
            for r in run.history()]


def _straight(tmp_path: Path, steps: int) -> Run:
    cfg = RunConfig(steps=steps, **TINY)
    run = Run.create(tmp_path / "straight", cfg)
    assert train(cfg, run) == "finished"
    return run


def _wait_for(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_sigkill_mid_run_shows_interrupted_and_cli_resume_matches_the_uninterrupted_run(tmp_path):
    """kill -9 at an arbitrary moment after the first checkpoint: nothing unreadable, exact resume."""
    runs = tmp_path / "runs"
    child = subprocess.Popen([sys.executable, "-m", "ganlab", "train", "--steps", "1000000", "--runs-dir", str(runs),
                              *CLI_TINY], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: any(runs.glob("*/checkpoints/ckpt-*.pt")), 120, "the first checkpoint")
        run = Run(next(runs.iterdir()))
        _wait_for(lambda: run.status()["state"] == "running", 30, "status running")  # live owner, other process
        time.sleep(0.3)  # somewhere in the middle of ticks, snapshots and checkpoint writes
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    st = run.status()
    assert st["state"] == "interrupted", st  # the owner pid is dead: a new process says so
    assert [r.id for r in JobManager(runs).runs()] == [run.id] and run.config().steps == 1000000
    last = run.last_checkpoint_step()
    assert last and last % 50 == 0
    run.history()  # a torn last line is skipped, never raised
    run.read_samples()
    end = last + 60
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:  # this test process is the "new process" after the kill; `ganlab train --resume` runs in it
        assert main(["train", "--resume", str(run.path), "--steps", str(end), "--quiet"]) == 0
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert run.status()["state"] == "finished" and run.status()["step"] == end
    assert _records(run) == _records(_straight(tmp_path, end))
    assert [r["step"] for r in run.history()] == list(range(10, end + 1, 10))


KILL_IN_CHECKPOINT = textwrap.dedent("""
    import os, signal, sys
    import ganlab.store.run as R
    from ganlab.config import RunConfig
    from ganlab.training import train

    real = R.atomic_write_bytes
    def dying_write(path, data):
        if path.name == "ckpt-000000100.pt":  # half the bytes reach the temp file, then the power goes
            with open(path.with_name(f".{path.name}.{os.getpid()}.1.tmp"), "wb") as f:
                f.write(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        real(path, data)
    R.atomic_write_bytes = dying_write
    cfg = RunConfig.from_json(sys.argv[2])
    train(cfg, R.Run.create(sys.argv[1], cfg))
""")


def test_sigkill_inside_a_checkpoint_write_then_job_manager_resume(tmp_path):
    """A kill while ckpt 100 is half written: ckpt 50 stays the newest, Resume replays 51..100 exactly."""
    runs = tmp_path / "runs"
    cfg = RunConfig(steps=150, **TINY)
    p = subprocess.run([sys.executable, "-c", KILL_IN_CHECKPOINT, str(runs), cfg.to_json()], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    run = Run(next(runs.iterdir()))
    assert run.status()["state"] == "interrupted"
    assert [c.name for c in run.checkpoints()] == ["ckpt-000000050.pt"]
    assert list(run.checkpoints_dir.glob(".ckpt-000000100.pt.*.tmp"))  # the torn temp file is there ...
    assert [r["step"] for r in run.history()][-1] == 100  # ... and records past the checkpoint
    jm = JobManager(runs)
    jm.resume(run.id)
    assert jm.wait(run.id, 120) == "finished"
    assert not list(run.checkpoints_dir.glob(".*.tmp"))  # ... cleaned up by the next checkpoint write
    assert _records(run) == _records(_straight(tmp_path, 150))
    steps = [r["step"] for r in jm.snapshot(run.id).history]
    assert steps == sorted(set(steps)) and steps[-1] == 150  # the live history has no replayed duplicates


APP = textwrap.dedent("""
    import sys, threading
    from ganlab.config import RunConfig
    from ganlab.jobs import JobManager
    jm = JobManager(sys.argv[1])
    for seed in (0, 1):
        jm.start(RunConfig.from_json(sys.argv[2]).replace(seed=seed))
    threading.Event().wait()  # the app serves pages until it is killed
""")


def test_app_killed_with_two_runs_mid_flight_then_a_new_app_resumes_both_exactly(tmp_path):
    """The process holding the JobManager dies (kill -9): a new one lists both runs as interrupted and resumes them."""
    runs = tmp_path / "runs"
    cfg = RunConfig(steps=1_000_000, **TINY)
    app = subprocess.Popen([sys.executable, "-c", APP, str(runs), cfg.to_json()], cwd=ROOT, env=ENV)
    try:
        _wait_for(lambda: len(list(runs.glob("*/checkpoints/ckpt-*.pt"))) >= 2 and
                  all(Run(d).checkpoints() for d in runs.iterdir()), 120, "a checkpoint in both runs")
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait()
    jm = JobManager(runs)
    listed = jm.runs()
    assert len(listed) == 2 and {r.status()["state"] for r in listed} == {"interrupted"} and jm.live_ids() == []
    targets = {}
    for r in listed:
        targets[r.id] = r.last_checkpoint_step() + 40
        jm.resume(r.id)
    for r in listed:
        _wait_for(lambda: jm.snapshot(r.id).step >= targets[r.id], 120, f"{r.id} to pass its target")
        jm.stop(r.id)
        assert jm.wait(r.id, 60) == "stopped"
    for r in listed:
        seed = r.config().seed
        recs = _records(r)
        straight = RunConfig(steps=recs[-1]["step"], **{**TINY, "seed": seed})
        ref = Run.create(tmp_path / f"straight{seed}", straight)
        train(straight, ref)
        assert recs == _records(ref)
        assert r.status()["state"] == "stopped"


def _nan_at(monkeypatch, step: int, net: str = "G") -> None:
    """Poison one network's weights right before iteration `step`, as a huge lr would."""
    orig = Trainer.train_step

    def poisoned(self, measure=False):
        if self.step + 1 == step:
            with torch.no_grad():
                next(getattr(self, net).parameters()).fill_(float("nan"))
        orig(self, measure)

    monkeypatch.setattr(Trainer, "train_step", poisoned)


def test_forced_nan_pauses_at_the_step_and_network_and_resumes_with_a_lower_lr(tmp_path, monkeypatch):
    """NaN in D at step 37: paused, message says step 37 and D; ckpts stay good; lr_scale=0.5 sticks."""
    cfg = RunConfig(steps=80, **{**TINY, "checkpoint_every": 20})
    _nan_at(monkeypatch, 37, "D")
    jm = JobManager(tmp_path / "runs")
    rid = jm.start(cfg)
    assert jm.wait(rid, 60) == "paused"
    snap = jm.snapshot(rid)
    assert snap.diverged and "step 37" in snap.error and "D loss" in snap.error and "lower learning rate" in snap.error
    run = Run(jm.runs_dir / rid)
    st = run.status()
    assert st["state"] == "paused" and st["diverged"] and st["network"] == "D" and st["step"] == 37
    assert run.last_checkpoint_step() == 20  # 40 would have been after the NaN: never written
    for c in run.checkpoints():
        run.load_checkpoint(c)  # each is checked: finite weights, right shapes
    monkeypatch.undo()
    jm.resume(rid, lr_scale=0.5)
    assert jm.wait(rid, 60) == "finished"
    after = [r for r in run.history() if r["step"] > 20]
    assert [r["step"] for r in after] == [30, 40, 50, 60, 70, 80]
    assert {(r["LR/D"], r["LR/G"]) for r in after} == {(cfg.lr_d * 0.5, cfg.lr_g * 0.5)}
    assert jm.snapshot(rid).hparams["lr_d"] == cfg.lr_d * 0.5
    state = run.load_checkpoint()
    assert state["step"] == 80 and state["hparams"]["lr_g"] == cfg.lr_g * 0.5
    assert state["opt_g"]["param_groups"][0]["lr"] == cfg.lr_g * 0.5


def test_nan_between_ticks_then_stop_writes_no_checkpoint(tmp_path, monkeypatch):
    """A stop right after a NaN (no tick to notice it) must not save the poisoned weights."""
    cfg = RunConfig(steps=80, **{**TINY, "checkpoint_every": 20})
    _nan_at(monkeypatch, 32, "G")
    run = Run.create(tmp_path, cfg)
    tr = Trainer(cfg)
    with pytest.raises(NonFiniteWeights, match="G weights became NaN"):
        train(cfg, run, trainer=tr, should_stop=lambda: tr.step == 34)
    assert run.last_checkpoint_step() == 20


def test_out_of_memory_fails_one_run_readably_frees_it_and_the_other_run_goes_on(tmp_path, monkeypatch):
    """torch.OutOfMemoryError in one run: failed with a sentence, its trainer is freed; the other finishes."""
    orig = Trainer.train_step
    victims = []

    def oom(self, measure=False):
        if self.cfg.seed == 1 and self.step == 5:
            victims.append(weakref.ref(self))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        orig(self, measure)

    monkeypatch.setattr(Trainer, "train_step", oom)
    jm = JobManager(tmp_path / "runs")
    a = jm.start(RunConfig(steps=60, **{**TINY, "seed": 1}))
    b = jm.start(RunConfig(steps=60, **{**TINY, "seed": 2}))
    assert jm.wait(a, 60) == "failed"
    assert jm.wait(b, 60) == "finished"
    err = jm.snapshot(a).error
    assert err.startswith("out of memory at step 6 (batch_size 32") and "lower batch_size" in err and "\n" not in err
    assert Run(jm.runs_dir / a).status()["state"] == "failed"
    assert victims and victims[0]() is None  # the failed run's models and optimizers are gone
    assert jm.live_ids() == []


@pytest.mark.parametrize("text", ["", "{", "[]", '"running"', '{"state": "exploded"}', "\x00\xff"])
def test_garbage_status_reads_as_interrupted_and_lists(tmp_path, capsys, text):
    run = Run.create(tmp_path, RunConfig(**TINY))
    run.status_path.write_bytes(text.encode("latin-1"))
    st = run.status()
    assert st["state"] == "interrupted" and "status.json" in st["error"]
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    assert f"{run.id}\tring8\tmlp\tbce\tinterrupted" in capsys.readouterr().out


def test_torn_and_garbage_stats_lines_are_skipped_and_the_next_record_is_whole(tmp_path):
    run = Run.create(tmp_path, RunConfig(**TINY))
    run.append_stats({"step": 10, "Loss/D": 0.5})
    with open(run.stats_path, "a") as f:
        f.write('7\n["x"]\n{"step": "ten"}\n{"step": 20, "Loss/D": 0.4')  # garbage, then a kill mid-line
    assert [r["step"] for r in run.history()] == [10]
    run.append_stats({"step": 30, "Loss/D": 0.3})
    assert [r["step"] for r in run.history()] == [10, 30]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_samples_h5_reads_empty_and_the_next_snapshot_starts_afresh(tmp_path, damage):
    run = Run.create(tmp_path, RunConfig(**TINY))
    x = np.arange(32, dtype=np.float32).reshape(16, 2)
    for s in (50, 100, 150):
        run.append_samples(s, x + s)
    data = run.samples_path.read_bytes()
    run.samples_path.write_bytes({"truncate": data[: len(data) // 3], "garbage": b"\x89HDF\r\n" + os.urandom(4000),
                                  "empty": b""}[damage])
    steps, samples = run.read_samples()
    assert len(steps) == 0 and len(samples) == 0
    if damage == "empty":  # HDF5 simply creates the file anew: nothing to keep aside
        run.append_samples(200, x)
    else:
        with pytest.warns(UserWarning, match="samples.h5.damaged"):
            run.append_samples(200, x)
        assert (run.path / "samples.h5.damaged").read_bytes()[:6] == b"\x89HDF\r\n"
    steps, samples = run.read_samples()
    assert steps.tolist() == [200] and np.array_equal(samples[0], x)
    assert run.config() == RunConfig(**TINY)


READER = textwrap.dedent("""
    import sys, time
    from ganlab.store import Run
    run, end, n = Run(sys.argv[1]), time.monotonic() + float(sys.argv[2]), 0
    while time.monotonic() < end:
        steps, _ = run.read_samples()
        n += 1
    print(n)
""")


def test_a_page_reading_snapshots_in_another_process_never_blocks_the_trainer(tmp_path):
    """HDF5 locks files: a reader that took a lock would make the trainer's append fail mid-run."""
    run = Run.create(tmp_path, RunConfig(**TINY))
    x = np.zeros((16, 2), np.float32)
    run.append_samples(0, x)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(run.path), "6"], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(3)  # the reader is importing, then reading in a loop
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped snapshot would warn
        for s in range(1, 201):
            run.append_samples(s, x + s)
    reads = int(reader.communicate(timeout=60)[0])
    assert reads > 10
    assert run.read_samples()[0].tolist() == list(range(201))


def _good_run(tmp_path: Path, steps: int = 100) -> Run:
    cfg = RunConfig(steps=steps, **TINY)
    run = Run.create(tmp_path / "good", cfg)
    train(cfg, run)
    return run


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    run = _good_run(tmp_path)
    newest = run.checkpoints()[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    assert run.load_checkpoint()["step"] == 50
    with pytest.raises(RunError, match="is damaged or not a checkpoint"):
        run.load_checkpoint(newest)
    run.checkpoints()[0].write_bytes(b"")
    with pytest.raises(RunError, match="no usable checkpoint"):
        run.load_checkpoint()


class Payload:
    """Unpickling this would create a file; a shell command would do the same."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the bare pickle
def test_malicious_pickle_is_refused_and_its_payload_never_runs(tmp_path, capsys):
    run = _good_run(tmp_path)
    marker = tmp_path / "pwned"
    evil = run.checkpoint_path(200)
    state = run.load_checkpoint()
    state["G"] = {"weight": Payload(marker)}  # inside an otherwise real checkpoint
    torch.save(state, evil)
    with pytest.raises(RunError, match="was refused: it holds objects other than tensors"):
        run.load_checkpoint(evil)
    evil.write_bytes(__import__("pickle").dumps(Payload(marker)))  # a bare pickle, not a torch zip
    with pytest.raises(RunError, match="was refused|cannot be loaded safely"):
        run.load_checkpoint(evil)
    assert main(["sample", str(run.path), "-n", "4", "--out", str(tmp_path / "s.npy")]) == 0  # falls back to 100
    assert not marker.exists()
    run.checkpoints()[0].unlink()
    run.checkpoints()[0].unlink()  # only the hostile file is left
    assert main(["sample", str(run.path), "-n", "4", "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "was refused" in err and "could run code" in err and "Traceback" not in err
    assert "weights_only" not in err  # no hint to load it the unsafe way
    assert not marker.exists()


def test_checkpoint_with_wrong_shapes_is_a_clear_run_error_and_resume_fails_cleanly(tmp_path):
    run = _good_run(tmp_path)
    good = torch.load(run.checkpoints()[-1], weights_only=True)
    for c in run.checkpoints():
        state = torch.load(c, weights_only=True)
        key = next(iter(state["G"]))
        state["G"][key] = torch.zeros(3, 3)
        torch.save(state, c)
    with pytest.raises(RunError, match=rf"G\.{key} has shape \(3, 3\), the architecture needs"):
        run.load_checkpoint(run.checkpoints()[-1])
    del good["D"][next(iter(good["D"]))]
    torch.save(good, run.checkpoints()[-1])
    with pytest.raises(RunError, match="D has missing keys"):
        run.load_checkpoint(run.checkpoints()[-1])
    run.write_status("stopped", 100)
    jm = JobManager(run.path.parent)
    jm.resume(run.id)
    assert jm.wait(run.id, 60) == "failed"
    assert "does not match the run" in jm.snapshot(run.id).error


def test_resume_refuses_a_run_another_live_process_trains(tmp_path):
    run = Run.create(tmp_path, RunConfig(**TINY))
    status = json.loads(run.status_path.read_text())
    host, _, _ = status["owner"].rsplit(":", 2)
    status.update(state="running", owner=f"{host}:1:")  # pid 1 is alive on every Linux box
    run.status_path.write_text(json.dumps(status))
    with pytest.raises(RunError, match="being trained by another process"):
        JobManager(tmp_path).resume(run.id)


def test_disk_full_during_a_checkpoint_keeps_the_previous_one_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """ENOSPC while writing ckpt 100: the run fails with the OS's sentence; ckpt 50 and every other file stay."""
    import ganlab.store.run as R

    real = os.fsync

    def full(fd):
        if Path(f"/proc/self/fd/{fd}").resolve().name.startswith(".ckpt-000000100"):
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(R.os, "fsync", full)
    jm = JobManager(tmp_path / "runs")
    rid = jm.start(RunConfig(steps=150, **TINY))
    assert jm.wait(rid, 60) == "failed"
    assert "No space left on device" in jm.snapshot(rid).error
    run = Run(jm.runs_dir / rid)
    assert [c.name for c in run.checkpoints()] == ["ckpt-000000050.pt"]
    assert not list(run.checkpoints_dir.glob(".*"))
    assert run.status()["state"] == "failed" and [r["step"] for r in run.history()][-1] == 100
    monkeypatch.undo()
    jm.resume(rid)
    assert jm.wait(rid, 60) == "finished"
    assert _records(run) == _records(_straight(tmp_path, 150))


def test_two_resume_clicks_at_once_start_one_thread(tmp_path):
    """Two tabs press Resume together: one run thread, the other click gets 'still running'."""
    import threading

    run = _good_run(tmp_path, steps=50)
    cfg = run.config().replace(steps=400)
    run.config_path.write_text(cfg.to_json())
    run.write_status("stopped", 50)
    jm = JobManager(run.path.parent)
    barrier, outcomes = threading.Barrier(4), []

    def click():
        barrier.wait()
        try:
            outcomes.append(jm.resume(run.id))
        except RunError as e:
            outcomes.append(str(e))

    clicks = [threading.Thread(target=click) for _ in range(4)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert outcomes.count(run.id) == 1 and sum("still running" in o for o in outcomes) == 3
    assert jm.wait(run.id, 60) == "finished"
    assert [r["step"] for r in run.history()] == list(range(10, 401, 10))


def test_lr_scale_multiplies_the_learning_rate_the_run_had_at_its_checkpoint(tmp_path):
    """A live edit (lr_d 4e-4) is in the checkpoint; Resume x0.5 gives 2e-4, not half the config's lr."""
    cfg = RunConfig(steps=50, **TINY)
    run = Run.create(tmp_path, cfg)
    tr = Trainer(cfg)
    tr.set_hparams(lr_d=4e-4)
    train(cfg, run, trainer=tr)
    run.config_path.write_text(cfg.replace(steps=80).to_json())
    jm = JobManager(tmp_path)
    jm.resume(run.id, lr_scale=0.5)
    assert jm.wait(run.id, 60) == "finished"
    after = [(r["LR/D"], r["LR/G"]) for r in run.history() if r["step"] > 50]
    assert after == [(2e-4, cfg.lr_g * 0.5)] * 3


# ------------------------------------------------------------------ the CLI killed early, two CLI resumes at once

HOOK = textwrap.dedent("""
    # sitecustomize: loaded by every Python started with this folder on PYTHONPATH, before ganlab is imported
    import os, signal
    if os.environ.get("GANLAB_TEST_KILL") == "after-config.json":
        _replace = os.replace
        def replace(src, dst, *a, **k):
            _replace(src, dst, *a, **k)
            if os.fspath(dst).endswith("config.json"):  # inside Run.create: config.json is in place, nothing else
                os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
""")


def _cli(runs: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganlab", "train", "--runs-dir", str(runs), *CLI_TINY, *args],
                            cwd=ROOT, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _resume_in_this_process(run: Run, steps: int) -> int:
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        return main(["train", "--resume", str(run.path), "--steps", str(steps), "--quiet"])
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])


def _kill_when(child: subprocess.Popen, pred, what: str) -> None:
    try:
        _wait_for(pred, 120, what)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()


def _only_run(runs: Path) -> Run:
    dirs = list(runs.iterdir()) if runs.is_dir() else []
    return Run(dirs[0]) if dirs else Run(runs / "none-yet")


def test_cli_killed_before_its_first_checkpoint_resumes_without_duplicate_records(tmp_path):
    """kill -9 with records on disk but no checkpoint, then the resume killed the same way: every step once."""
    runs = tmp_path / "runs"
    child = _cli(runs, "--steps", "1000000", "--set", "checkpoint_every=1000000")
    _kill_when(child, lambda: len(_only_run(runs).history()) >= 3, "three records")
    run = _only_run(runs)
    first_owner = json.loads(run.status_path.read_text())["owner"]
    assert run.checkpoints() == [] and run.status()["state"] == "interrupted"
    child = subprocess.Popen([sys.executable, "-m", "ganlab", "train", "--resume", str(run.path), "--quiet"],
                             cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def resumed_and_ticking() -> bool:
        st = json.loads(run.status_path.read_text())
        return st["owner"] != first_owner and st["state"] == "running" and len(run.history()) >= 2

    _kill_when(child, resumed_and_ticking, "the resume to train two ticks")
    assert run.checkpoints() == [] and run.status()["state"] == "interrupted"
    assert _resume_in_this_process(run, 60) == 0
    assert [r["step"] for r in run.history()] == [10, 20, 30, 40, 50, 60]
    assert _records(run) == _records(_straight(tmp_path, 60))


def test_cli_killed_inside_run_create_resumes_and_keeps_its_work(tmp_path):
    """kill -9 right after Run.create wrote config.json: the resume trains, saves its checkpoint and finishes."""
    runs, hook = tmp_path / "runs", tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    env = {**ENV, "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}", "GANLAB_TEST_KILL": "after-config.json"}
    child = _cli(runs, "--steps", "60", env=env)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    run = _only_run(runs)
    assert run.config().steps == 60 and not run.status_path.exists() and run.status()["state"] == "interrupted"
    assert _resume_in_this_process(run, 60) == 0
    assert run.status()["state"] == "finished" and run.last_checkpoint_step() == 60
    assert _records(run) == _records(_straight(tmp_path / "a", 60))
    shutil.rmtree(run.checkpoints_dir)  # what an older ganlab killed at this point left: no checkpoints/ at all
    assert _resume_in_this_process(run, 80) == 0
    assert run.status()["state"] == "finished" and run.last_checkpoint_step() == 80
    assert _records(run) == _records(_straight(tmp_path / "b", 80))


def test_two_cli_resumes_of_one_run_at_once_one_trains_and_the_other_is_refused(tmp_path):
    """Both read "stopped" at once; the training lock lets one through, the other exits 2 with one line."""
    run = _good_run(tmp_path, steps=50)
    run.write_status("stopped", 50)
    args = [sys.executable, "-m", "ganlab", "train", "--resume", str(run.path), "--steps", "1000000", "--quiet"]
    children = [subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    try:
        _wait_for(lambda: any(c.poll() is not None for c in children), 60, "one resume to be refused")
        loser = next(c for c in children if c.poll() is not None)
        winner = next(c for c in children if c is not loser)
        err = loser.communicate()[1]
        assert loser.returncode == 2, err
        assert err.count("\n") == 1 and "is still running: it is being trained by another process" in err
        _wait_for(lambda: run.status()["state"] == "running" and len(run.history()) >= 10, 60, "the winner to train")
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
    assert winner.wait(60) == 130, winner.communicate()[1]
    assert run.status()["state"] == "stopped"
    steps = [r["step"] for r in run.history()]
    assert steps == list(range(10, steps[-1] + 1, 10))  # every step once, none twice
    assert not list(run.checkpoints_dir.glob(".*.tmp"))
    assert _records(run) == _records(_straight(tmp_path, steps[-1]))
