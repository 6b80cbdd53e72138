"""The fault-injection suite that keeps the run store honest under hostile conditions.

- a small full filesystem: a file-size limit (RLIMIT_FSIZE) on a real `python -m ganlab train`, and a
  tiny tmpfs where this machine lets us mount one: the run fails with "the disk is full", keeps its last
  good checkpoint, leaves no temp file, and a resume with space again is bit-identical;
- kills (SIGKILL) at seeded random points of a train and of its resume, then a resume to the end:
  every record and the final weights equal the uninterrupted run's;
- three resumes of one run at once: one trains, the others are refused, no step is recorded twice;
- a seeded fuzzer over status.json and config.json: every mutation leaves `ganlab runs` at exit 0,
  listing the other runs as they are.

Bounded for a 2-core box: tiny nets, short runs, a handful of trials, ~300 fuzz cases.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.errors import RunError
from ganlab.jobs import JobManager
from ganlab.session import RunSession
from ganlab.store import STATES, Run
from ganlab.store.status import FIELDS
from ganlab.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "GANLAB_THREADS": "1", "PYTHONPATH": str(ROOT)}
BASE = dict(dataset="ring8", arch="mlp", g_hidden=(16,), d_hidden=(16,), latent_dim=4, batch_size=32, log_every=10,
            snapshot_every=50, checkpoint_every=50, num_fixed=16, device="cpu", seed=0)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("GANLAB_THREADS", "1")  # the in-process resumes compute as the subprocesses do


def _records(run: Run) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s")} for r in run.history()]


def _tensors(v) -> list[torch.Tensor]:
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, dict):
        return [t for k in sorted(v, key=str) for t in _tensors(v[k])]
    return []


def _final_weights(run: Run) -> list[torch.Tensor]:
    state = run.load_checkpoint()
    return _tensors({k: state[k] for k in ("G", "D", "G_ema", "opt_g", "opt_d")})


def _same_run(run: Run, ref: Run) -> None:
    assert _records(run) == _records(ref)
    assert all(torch.equal(a, b) for a, b in zip(_final_weights(run), _final_weights(ref), strict=True))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run of a config (one thread, as every run here), trained once per module."""
    done: dict[str, Run] = {}

    def get(cfg: RunConfig) -> Run:
        key = cfg.to_json()
        if key not in done:
            run = Run.create(tmp_path_factory.mktemp("straight"), cfg)
            session = RunSession(run, cfg)
            session.trainer = Trainer(cfg)
            session.trainer.threads = 1
            assert session.run_training().state == "finished"
            done[key] = run
        return done[key]

    return get


def _train_cmd(tmp_path: Path, cfg: RunConfig, runs: Path) -> list[str]:
    path = tmp_path / f"{runs.name}.json"
    path.write_text(cfg.to_json())
    return [sys.executable, "-m", "ganlab", "train", "--config", str(path), "--runs-dir", str(runs), "--quiet"]


def _only_run(runs: Path) -> Run:
    (path,) = [p for p in runs.iterdir() if (p / "config.json").is_file()]
    return Run(path)


def _no_temp_files(run: Run) -> None:
    assert not [p for p in run.path.rglob("*") if p.name.endswith(".tmp")]


def _resume_here(run: Run, steps: int | None = None) -> str:
    return RunSession.reopen(run.path, steps=steps).run_training().state


# ------------------------------------------------------------------ a full filesystem

def _fsize_limit(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("limit,changes,culprit", [
    (20_000, {"steps": 100}, "ckpt-000000050.pt"),  # a checkpoint (26 kB) is the first file over the limit
    (30_000, {"steps": 200, "log_every": 1}, "stats.jsonl"),  # checkpoints fit; stats.jsonl outgrows them
], ids=["checkpoint", "stats"])
def test_a_file_size_limit_fails_the_cli_run_as_a_full_disk_and_the_resume_is_exact(tmp_path, straight, limit, changes,
                                                                                    culprit):
    cfg = RunConfig(**{**BASE, **changes})
    runs = tmp_path / "runs"
    p = subprocess.run(_train_cmd(tmp_path, cfg, runs), cwd=ROOT, env=ENV, capture_output=True, text=True,
                       timeout=180, preexec_fn=_fsize_limit(limit))
    assert p.returncode == 1, p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert f"the run failed: the disk is full (File too large writing {culprit})" in p.stderr
    run = _only_run(runs)
    st = run.status()
    assert st["state"] == "failed" and st["error"].startswith("the disk is full")
    kept = run.last_checkpoint_step()
    assert (f"the last good checkpoint (step {kept}) is kept" if kept else "no checkpoint had been written yet") in st["error"]
    _no_temp_files(run)
    assert _resume_here(run) == "finished"
    _same_run(run, straight(cfg))


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_full_tmpfs_fails_the_run_readably_and_the_resume_with_space_is_exact(tmp_path, straight):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "192k"):
        pytest.skip("mounting a tmpfs is not allowed here (the file-size limit test covers a full disk)")
    try:
        cfg = RunConfig(**{**BASE, "steps": 1_000_000, "log_every": 2})
        runs = disk / "runs"
        p = subprocess.run(_train_cmd(tmp_path, cfg, runs), cwd=ROOT, env=ENV, capture_output=True, text=True,
                           timeout=180)
        assert p.returncode == 1, p.stderr
        assert "the run failed: the disk is full (No space left on device" in p.stderr and "Traceback" not in p.stderr
        run = _only_run(runs)
        assert run.status()["state"] in ("failed", "interrupted")  # the failed status may not have fit either
        _no_temp_files(run)
        kept = run.last_checkpoint_step()
        assert kept and run.load_checkpoint()["step"] == kept
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        end = kept + 60
        assert _resume_here(run, steps=end) == "finished"
        _same_run(run, straight(cfg.replace(steps=end)))
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# ------------------------------------------------------------------ kills at seeded random points

KILL_HOOK = textwrap.dedent("""
    # sitecustomize: counts the store's file events in this process and kill -9s it at event N
    import builtins, os, signal
    _at = int(os.environ.get("GANLAB_TEST_KILL_AT", "0") or 0)
    if _at:
        _n = [0]
        def _event():
            _n[0] += 1
            if _n[0] == _at:
                os.kill(os.getpid(), signal.SIGKILL)
        def _wrap(real):
            def hooked(*a, **k):
                _event()
                return real(*a, **k)
            return hooked
        os.fsync, os.replace = _wrap(os.fsync), _wrap(os.replace)  # atomic writes: temp file synced, renamed
        _open = builtins.open
        def _open_hooked(file, mode="r", *a, **k):
            if "a" in mode and str(file).endswith(".jsonl"):  # a tick's record
                _event()
            return _open(file, mode, *a, **k)
        builtins.open = _open_hooked
""")


def test_kills_at_random_points_of_train_and_resume_then_the_resume_is_bit_identical(tmp_path, straight):
    """3 seeded trials: train killed at event k1, its resume killed at k2, a last resume to the end."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_HOOK)
    env = {**ENV, "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}"}
    cfg = RunConfig(**{**BASE, "steps": 300})
    ref = straight(cfg)
    rng = random.Random(15)
    kills = 0
    for trial in range(3):
        runs = tmp_path / f"runs{trial}"
        k1, k2 = rng.randint(3, 45), rng.randint(1, 30)  # event 3: Run.create's status.json, config.json in place
        commands = [_train_cmd(tmp_path, cfg, runs), None]
        for point, command in zip((k1, k2), commands):
            command = command or [sys.executable, "-m", "ganlab", "train", "--resume", str(_only_run(runs).path), "--quiet"]
            p = subprocess.run(command, cwd=ROOT, env={**env, "GANLAB_TEST_KILL_AT": str(point)}, capture_output=True,
                               text=True, timeout=180)
            assert p.returncode in (-signal.SIGKILL, 0), p.stderr
            if p.returncode == 0:
                break  # the point fell after the run's last event: it finished
            kills += 1
            run = _only_run(runs)
            assert run.status()["state"] == "interrupted", (trial, point)
            steps = [r["step"] for r in run.history()]
            assert steps == sorted(set(steps)), (trial, point)  # a kill never leaves a step twice
        run = _only_run(runs)
        if run.status()["state"] != "finished":
            assert _resume_here(run) == "finished", (trial, k1, k2)
        _same_run(run, ref)
        _no_temp_files(run)
    assert kills >= 4  # the points fall inside the runs, not after them


# ------------------------------------------------------------------ concurrent resumes

def test_three_resumes_at_once_and_one_from_this_process_only_one_trains(tmp_path, straight):
    cfg = RunConfig(**{**BASE, "steps": 50})
    run = Run.create(tmp_path / "runs", cfg)
    assert RunSession(run, cfg).run_training().state == "finished"
    args = [sys.executable, "-m", "ganlab", "train", "--resume", str(run.path), "--steps", "1000000", "--quiet"]
    children = [subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    try:
        end = time.monotonic() + 90
        while sum(c.poll() is not None for c in children) < 2:
            assert time.monotonic() < end, "two of the three resumes should have been refused"
            time.sleep(0.05)
        refused = [c for c in children if c.poll() is not None]
        for c in refused:
            err = c.communicate()[1]
            assert c.returncode == 2 and "is being trained by another process" in err and err.count("\n") == 1, err
        (winner,) = [c for c in children if c.poll() is None]
        while not (run.status()["state"] == "running" and len(run.history()) >= 10):
            assert winner.poll() is None and time.monotonic() < end, "the one resume let through should train"
            time.sleep(0.05)
        with pytest.raises(RunError, match="is being trained by another process"):
            RunSession.reopen(run.path)
        with pytest.raises(RunError, match="is being trained by another process"):
            JobManager(run.path.parent).resume(run.id)
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
    assert winner.wait(60) == 130
    steps = [r["step"] for r in run.history()]
    assert steps == list(range(10, steps[-1] + 1, 10))
    _no_temp_files(run)
    assert _records(run) == _records(straight(cfg.replace(steps=steps[-1])))


# ------------------------------------------------------------------ a fuzzer over the run files

ODD_VALUES = ["abc", "", None, True, False, -1, 0, 2 ** 70, 1.5, [], [1], {}, {"a": [1]}, "running", "\u0000",
              "x" * 5000, [[[[[[]]]]]]]
ODD_TEXT = ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000, "[" * 50_000 + "]" * 50_000, '"\\ud800"']


def _mutations(rng: random.Random, good: bytes) -> bytes:
    """One hostile variant of a JSON file: a value swapped, a key lost or added, bytes flipped, cut or nested."""
    kind = rng.randrange(8)
    obj = json.loads(good)
    if kind == 0:  # a field's value of the wrong type
        obj[rng.choice(list(obj))] = rng.choice(ODD_VALUES)
        return json.dumps(obj).encode()
    if kind == 1:  # a value JSON's encoder would never write
        key = rng.choice(list(obj))
        return json.dumps({**obj, key: "@@"}).replace('"@@"', rng.choice(ODD_TEXT)).encode()
    if kind == 2:  # a key lost, or an unknown one added
        if rng.random() < 0.5 and obj:
            del obj[rng.choice(list(obj))]
        else:
            obj[rng.choice(["zzz", "", "state ", "\u00e9"])] = rng.choice(ODD_VALUES)
        return json.dumps(obj).encode()
    if kind == 3:  # flipped bytes
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 4:  # cut short (a torn write from a tool that does not replace atomically)
        return good[: rng.randrange(len(good))]
    if kind == 5:  # not an object
        return json.dumps(rng.choice([[obj], obj.get("state", 1), None, list(obj)])).encode()
    if kind == 6:  # another encoding, or garbage
        return rng.choice([good.decode().encode("utf-16"), rng.randbytes(rng.randint(0, 300)), b"\xff" + good])
    return json.dumps(obj).encode() * rng.randint(2, 3)  # two objects in one file


def test_fuzzed_status_and_config_never_hide_the_other_runs(tmp_path, capsys):
    runs = tmp_path / "runs"
    cfg = RunConfig(**{**BASE, "steps": 20})
    listed = []
    for seed in (0, 1, 2):
        run = Run.create(runs, cfg.replace(seed=seed))
        assert RunSession(run, run.config()).run_training().state == "finished"
        listed.append(run)
    target, others = listed[1], (listed[0], listed[2])
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    expected = {line.split("\t", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    good = {"status": target.status_path.read_bytes(), "config": target.config_path.read_bytes()}
    rng = random.Random(22)
    for case in range(300):
        which = "status" if case % 2 == 0 else "config"
        path = target.status_path if which == "status" else target.config_path
        path.write_bytes(_mutations(rng, good[which]))
        st = target.status()  # never raises; documented types only
        assert st["state"] in STATES and all(FIELDS[k][0](v) for k, v in st.items()), (case, st)
        try:
            assert isinstance(target.config(), RunConfig)
        except RunError as e:
            assert "\n" not in str(e) and len(str(e)) < 600
        assert main(["runs", "--runs-dir", str(runs)]) == 0, case
        out = capsys.readouterr()
        lines = {line.split("\t", 1)[0]: line for line in out.out.splitlines()}
        assert all(lines[o.id] == expected[o.id] for o in others), (case, out.out)
        assert target.id in lines and "Traceback" not in out.err
        path.write_bytes(good[which])
