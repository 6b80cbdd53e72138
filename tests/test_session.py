"""One run session, one behaviour: the CLI and the dashboard's JobManager end a run the same way.

Each test runs the same situation through both callers (`caller` fixture) and checks what a
person sees afterwards: the run's status.json, and the caller's own answer (exit code and
one line for the CLI, the snapshot for the JobManager).
"""

import json
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
