"""One run session, one behaviour: the CLI and the dashboard's JobManager end a run the same way.

Each test runs the same situation through both callers (`caller` fixture) and checks what a
person sees afterwards: the run's status.json, and the caller's own answer (exit code and
one line for the CLI, the snapshot for the JobManager).
"""

import json
import os
from pathlib import Path

import pytest
import torch

import ganlab.store.run as store_run
from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.errors import Diverged, NonFiniteWeights, RunError
from ganlab.jobs import JobManager
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.training import Trainer

TINY = dict(dataset="ring8", arch="mlp", g_hidden=(16,), d_hidden=(16,), latent_dim=2, batch_size=32,
            log_every=10, snapshot_every=50, checkpoint_every=20, num_fixed=16, device="cpu", seed=0, steps=60)


class Caller:
    """Start or resume a run through the CLI or the JobManager; return (answer, run)."""

    def __init__(self, kind: str, runs: Path, capsys):
        self.kind, self.runs, self.capsys = kind, runs, capsys

    def start(self, cfg: RunConfig):
        if self.kind == "cli":
            path = self.runs.parent / "c.json"
            path.write_text(json.dumps(cfg.to_dict()))
            code = main(["train", "--config", str(path), "--runs-dir", str(self.runs), "--quiet"])
            return code, Run(sorted(self.runs.iterdir())[-1])
        jm = JobManager(self.runs)
        rid = jm.start(cfg)
        jm.wait(rid, 120)
        return jm.snapshot(rid), Run(self.runs / rid)

    def resume(self, run: Run, lr_scale=None):
        if self.kind == "cli":
            args = ["train", "--resume", str(run.path), "--quiet"]
            return main(args + (["--lr-scale", str(lr_scale)] if lr_scale else []))
        jm = JobManager(self.runs)
        jm.resume(run.id, lr_scale=lr_scale)
        jm.wait(run.id, 120)
        return jm.snapshot(run.id)

    def stderr(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture(params=["cli", "jobs"])
def caller(request, tmp_path, capsys):
    return Caller(request.param, tmp_path / "runs", capsys)


def _status(run: Run) -> dict:
    return json.loads(run.status_path.read_text())


def test_a_checkpoint_with_nan_weights_pauses_the_run_as_diverged(caller, monkeypatch):
    """NonFiniteWeights (the store refusing a checkpoint) is a divergence like a NaN loss: paused, with the reason."""
    def refuse(state, step):
        raise NonFiniteWeights("G", step)

    monkeypatch.setattr(store_run, "encode_checkpoint", refuse)
    answer, run = caller.start(RunConfig(**TINY))
    status = _status(run)
    assert status["state"] == "paused" and status["diverged"] is True and status["network"] == "G"
    assert "weights became NaN or infinite" in status["error"]
    if caller.kind == "cli":
        assert answer == 1 and caller.stderr().count("\n") == 1
    else:
        assert answer.state == "paused" and answer.diverged and "NaN" in answer.error


def test_a_nan_loss_pauses_the_run_as_diverged_at_its_step(caller, monkeypatch):
    real = Trainer.collect

    def diverge(self):
        if self.step >= 40:
            raise Diverged(37, "D", "loss became NaN or infinite")
        return real(self)

    monkeypatch.setattr(Trainer, "collect", diverge)
    answer, run = caller.start(RunConfig(**TINY))
    status = _status(run)
    assert (status["state"], status["step"], status["network"], status["diverged"]) == ("paused", 37, "D", True)
    assert run.last_checkpoint_step() == 20  # the last good one stays the newest
    assert (answer == 1) if caller.kind == "cli" else (answer.state == "paused" and answer.diverged)


def test_an_unexpected_error_fails_the_run_with_one_sentence_and_keeps_the_traceback(caller, monkeypatch):
    real = Trainer.train_step

    def boom(self, measure=False):
        if self.step == 25:
            raise RuntimeError("boom")
        return real(self, measure)

    monkeypatch.setattr(Trainer, "train_step", boom)
    answer, run = caller.start(RunConfig(**TINY))
    status = _status(run)
    assert status["state"] == "failed" and status["error"] == "RuntimeError: boom"
    assert "Traceback" in status["traceback"] and status["step"] == 25
    if caller.kind == "cli":
        err = caller.stderr()
        assert answer == 1 and "Traceback" not in err and "RuntimeError: boom" in err
    else:
        assert answer.state == "failed" and answer.error == "RuntimeError: boom"


def test_out_of_memory_fails_the_run_and_says_what_to_lower(caller, monkeypatch):
    def oom(self, measure=False):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "train_step", oom)
    _, run = caller.start(RunConfig(**TINY))
    status = _status(run)
    assert status["state"] == "failed"
    assert status["error"].startswith("out of memory at step 1 (batch_size 32") and "lower batch_size" in status["error"]


def test_resume_without_a_checkpoint_starts_over_without_the_stale_records(caller):
    """Killed before its first checkpoint: resume trains from step 0, and stats.jsonl holds each step once."""
    cfg = RunConfig(**TINY)
    run = Run.create(caller.runs, cfg)
    for step in (10, 20):
        run.append_stats({"step": step, "Loss/D": 0.1})
    run.write_status("interrupted", 20)
    caller.resume(run)
    steps = [r["step"] for r in run.history()]
    assert steps == list(range(10, 61, 10)) and _status(run)["state"] == "finished"


def test_resume_scales_the_checkpoints_learning_rates(caller):
    cfg = RunConfig(**TINY, lr_schedule="constant")
    run = Run.create(caller.runs, cfg)
    holder = {}
    session = RunSession(run, cfg)
    session.trainer = holder["t"] = Trainer(cfg)
    assert session.run_training(should_stop=lambda: holder["t"].step == 20).state == "stopped"
    caller.resume(run, lr_scale=0.5)
    after = [r for r in run.history() if r["step"] > 20]
    assert after and all(r["LR/D"] == pytest.approx(cfg.lr_d * 0.5) for r in after)
    assert _status(run)["state"] == "finished"


def test_a_finished_run_is_not_resumed_without_more_steps(tmp_path):
    cfg = RunConfig(**TINY)
    run = Run.create(tmp_path, cfg)
    assert RunSession(run, cfg).run_training().state == "finished"
    with pytest.raises(RunError, match="has finished all 60 steps"):
        RunSession.reopen(run.path)
    more = RunSession.reopen(run.path, steps=80)
    assert more.run_training().state == "finished" and run.config().steps == 80  # config.json agrees
    assert [r["step"] for r in run.history()][-1] == 80


def test_a_run_another_process_trains_is_refused(tmp_path):
    cfg = RunConfig(**TINY)
    run = Run.create(tmp_path, cfg)
    status = _status(run)
    start = Path("/proc/1/stat").read_text().rsplit(")", 1)[1].split()[19]
    status.update(state="running", owner=f"{status['owner'].split(':')[0]}:1:{start}")  # pid 1: alive, not us
    run.status_path.write_text(json.dumps(status))
    with pytest.raises(RunError, match="being trained by another process"):
        RunSession.reopen(run.path)


# ------------------------------------------------------------------ one trainer per run (the training lock)

def _stopped_at(runs: Path, cfg: RunConfig, step: int) -> Run:
    """A run trained by a session and stopped by should_stop at `step` (a checkpoint is written there)."""
    run = Run.create(runs, cfg)
    session = RunSession(run, cfg)
    session.trainer = trainer = Trainer(cfg)
    assert session.run_training(should_stop=lambda: trainer.step == step).state == "stopped"
    return run


def test_two_sessions_of_one_run_in_one_process_the_second_is_refused(tmp_path):
    cfg = RunConfig(**TINY)
    run = _stopped_at(tmp_path, cfg, 20)
    first = RunSession.reopen(run.path)
    with pytest.raises(RunError, match="is being trained by another process or session .a session in this process."):
        RunSession.reopen(run.path)
    by_hand = RunSession(run, cfg, resume=True).run_training()  # not through reopen(): refused all the same
    assert by_hand.state == "failed" and "is being trained by another process" in by_hand.error
    assert _status(run)["state"] == "stopped"  # the refused session wrote nothing
    assert first.run_training().state == "finished"
    assert [r["step"] for r in run.history()] == list(range(10, 61, 10))
    again = RunSession.reopen(run.path, steps=80)  # the lock went with the first session
    fresh = RunSession.new(cfg, tmp_path)  # a new run is locked from the moment its directory exists
    with pytest.raises(RunError, match="is being trained by another process"):
        RunSession.reopen(fresh.run.path)
    fresh.close()
    RunSession.reopen(fresh.run.path).close()
    assert again.run_training().state == "finished"


def test_the_lock_is_released_however_the_session_ends(tmp_path, monkeypatch):
    cfg = RunConfig(**TINY)
    run = _stopped_at(tmp_path, cfg, 20)

    refused = []

    def boom(self, measure=False):
        try:
            RunSession.reopen(run.path)
        except RunError as e:  # the failing session holds the run while it trains
            refused.append(str(e))
        raise RuntimeError("boom")

    with monkeypatch.context() as m:
        m.setattr(Trainer, "train_step", boom)
        assert RunSession.reopen(run.path).run_training().state == "failed"
    assert len(refused) == 1 and "is being trained by another process" in refused[0]
    with pytest.raises(RunError, match="finished all"):  # refused for another reason: the lock is let go
        run.write_status("finished", 60)
        RunSession.reopen(run.path, steps=20)
    run.write_status("stopped", 20)
    assert RunSession.reopen(run.path).run_training().state == "finished"


# ------------------------------------------------------------------ exact resume

def _records(run: Run) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s")} for r in run.history()]


def _weights(run: Run) -> dict:
    state = run.load_checkpoint()
    return {net: state[net] for net in ("G", "D", "G_ema")} | {"opt_g": state["opt_g"]["state"]}


def _same_weights(a: dict, b: dict) -> bool:
    flat = lambda d: [t for k in sorted(d) for t in (_flat(d[k]))]  # noqa: E731
    return all(torch.equal(x, y) for x, y in zip(flat(a), flat(b), strict=True))


def _flat(v) -> list:
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, dict):
        return [t for k in sorted(v) for t in _flat(v[k])]
    return []


def _uninterrupted(tmp_path: Path, cfg: RunConfig) -> Run:
    run = Run.create(tmp_path / "straight", cfg)
    assert RunSession(run, cfg).run_training().state == "finished"
    return run


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run of a config, trained once per module (the thread count of this process's main thread)."""
    done: dict[str, Run] = {}

    def get(cfg: RunConfig) -> Run:
        if cfg.to_json() not in done:
            done[cfg.to_json()] = _uninterrupted(tmp_path_factory.mktemp("straight"), cfg)
        return done[cfg.to_json()]

    return get


def test_a_stop_between_ticks_resumes_exactly(caller, straight):
    """Stopped at step 35 (ticks at 30 and 40): record 40 averages steps 31..40 as in the uninterrupted run."""
    cfg = RunConfig(**{**TINY, "r1_weight": 0.1})  # R1 reports every step: the tick's running means travel too
    run = _stopped_at(caller.runs, cfg, 35)
    assert run.last_checkpoint_step() == 35 and [r["step"] for r in run.history()][-1] == 30
    caller.resume(run)
    ref = straight(cfg)
    assert _records(run) == _records(ref)
    assert _same_weights(_weights(run), _weights(ref))


WIDE = dict(TINY, g_hidden=(128,), d_hidden=(128,), batch_size=128)  # wide enough that 1 and 2 threads differ


def test_a_run_trained_with_one_thread_resumes_with_one_thread_whoever_resumes_it(caller, tmp_path, monkeypatch):
    cfg = RunConfig(**WIDE)
    monkeypatch.setenv("GANLAB_THREADS", "1")
    run = _stopped_at(caller.runs, cfg, 30)
    assert run.load_checkpoint()["threads"] == 1
    straight = _uninterrupted(tmp_path, cfg)
    monkeypatch.setenv("GANLAB_THREADS", "2")  # this caller would pick 2 for a run of its own
    caller.resume(run)
    assert run.load_checkpoint()["threads"] == 1
    assert _records(run) == _records(straight)
    assert _same_weights(_weights(run), _weights(straight))


def test_a_dashboard_run_resumed_by_the_cli_is_bit_exact(tmp_path, monkeypatch):
    """The dashboard trains in a background thread (half the CPUs), the CLI in the main thread (all of them)."""
    monkeypatch.delenv("GANLAB_THREADS", raising=False)
    cfg = RunConfig(**{**WIDE, "steps": 80})
    jm = JobManager(tmp_path / "runs")
    rid = jm.start(cfg.replace(steps=50))
    assert jm.wait(rid, 120) == "finished"
    run = Run(jm.runs_dir / rid)
    threads = run.load_checkpoint()["threads"]
    assert main(["train", "--resume", str(run.path), "--steps", "80", "--quiet"]) == 0
    assert run.load_checkpoint()["threads"] == threads
    ref = JobManager(tmp_path / "ref")
    ref_id = ref.start(cfg)
    assert ref.wait(ref_id, 120) == "finished"
    straight = Run(ref.runs_dir / ref_id)
    assert _records(run) == _records(straight)
    assert _same_weights(_weights(run), _weights(straight))


# ------------------------------------------------------------------ a full disk

class FullDisk:
    """After `after` writes of the trigger file the disk is full: every write of the failing files raises.

    Only trigger writes are counted, and triggers are records and checkpoints, which fall on fixed steps
    (status.json is also rewritten once a second, so counting it would depend on the machine's speed).
    """

    def __init__(self, monkeypatch, trigger: str, after: int, failing: tuple[str, ...] = (), code: int = 28):
        import ganlab.store.files as files_mod

        self.trigger, self.after, self.code, self.calls = trigger, after, code, 0
        self.failing = {trigger, *failing}
        real_fsync, real_append = os.fsync, files_mod.append_jsonl

        def fsync(fd):
            self._write(Path(f"/proc/self/fd/{fd}").resolve().name)
            real_fsync(fd)

        def append(path, record):
            self._write(path.name)
            real_append(path, record)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(store_run, "append_jsonl", append)

    def _write(self, name: str) -> None:
        if self.trigger in name:
            self.calls += 1
        if self.calls > self.after and any(f in name for f in self.failing):
            raise OSError(self.code, os.strerror(self.code))


# (trigger, its writes that still succeed, other files that fail from then on, errno); ticks every 10 steps,
# checkpoints every 20
FULL = {"status": ("status.json", 0, (), 28),  # the first "running": failed at step 0, and so is its status
        "stats": ("stats.jsonl", 4, (), 28),  # record 50: checkpoint 40 kept
        "checkpoint": (".ckpt-", 2, (), 28),  # checkpoint 60
        "checkpoint-efbig": (".ckpt-", 2, (), 27),  # a file-size limit (RLIMIT_FSIZE) reads the same
        "everything": ("stats.jsonl", 4, ("status.json", ".ckpt-"), 28)}  # record 50, then the failed status


@pytest.mark.parametrize("name", list(FULL))
def test_a_full_disk_fails_the_run_with_a_sentence_keeps_the_checkpoint_and_leaves_no_temp_file(
        tmp_path, monkeypatch, straight, name):
    trigger, after, failing, code = FULL[name]
    cfg = RunConfig(**{**TINY, "steps": 100})
    run = Run.create(tmp_path / "runs", cfg)
    with monkeypatch.context() as m:
        disk = FullDisk(m, trigger, after, failing, code)
        outcome = RunSession(run, cfg).run_training()  # never raises, whatever write fails
    assert disk.calls > disk.after
    assert outcome.state == "failed" and outcome.error.startswith("the disk is full (")
    assert os.strerror(code) in outcome.error and "free space in" in outcome.error
    assert not [p for p in run.path.rglob("*") if p.name.endswith(".tmp")]
    kept = run.last_checkpoint_step()
    assert kept == {"status": None, "stats": 40, "checkpoint": 40, "checkpoint-efbig": 40, "everything": 40}[name]
    if kept:
        assert f"the last good checkpoint (step {kept}) is kept" in outcome.error
        assert run.load_checkpoint()["step"] == kept
    if "status.json" in disk.failing:
        assert "status.json could not be written either" in outcome.error
    else:
        assert _status(run)["state"] == "failed" and _status(run)["error"] == outcome.error
    assert RunSession.reopen(run.path).run_training().state == "finished"  # space again: resume, exactly
    assert _records(run) == _records(straight(cfg))


def test_a_full_disk_reaches_each_caller_as_one_sentence(caller, monkeypatch):
    cfg = RunConfig(**{**TINY, "steps": 100})
    with monkeypatch.context() as m:
        FullDisk(m, "stats.jsonl", 4, ("status.json", ".ckpt-"))
        answer, run = caller.start(cfg)
    if caller.kind == "cli":
        err = caller.stderr()
        assert answer == 1 and err.count("\n") == 1 and "the run failed: the disk is full (No space left on device" in err
    else:
        assert answer.state == "failed" and answer.error.startswith("the disk is full (No space left on device")
    assert run.last_checkpoint_step() == 40 and not list(run.checkpoints_dir.glob(".*"))
