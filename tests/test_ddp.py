"""Data-parallel runs under torchrun (issue #19): real launches of 2 CPU processes (gloo) against one process.

Tolerance (the README says the same): a DDP run's logged losses equal a single-process run's at the same global
batch, seed and per-process thread count within 1e-5 relative over the first 20 steps (float reduction order alone:
measured ~1e-7), and within 2e-3 absolute over 100 steps of the digits preset: GAN training under Adam amplifies
those last-bit differences as a thread-count change in one process does (measured ~5e-4 either way).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.config.presets import preset_config
from ganlab.errors import ConfigError
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.training import distributed

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("Loss/D", "Loss/G", "D/real", "D/fake")
EARLY_STEPS, EARLY_REL = 20, 1e-5  # float reduction order only
LATE_ABS = 2e-3  # over 100 steps: the game amplifies those differences (as a thread count change does)
TOTAL = 100
TRAIN = ["--preset", "digits", "--quiet", "--set", "log_every=10", "--set", "checkpoint_every=1000"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(ROOT), GANLAB_THREADS="1", GANLAB_DATA=str(work / "data"), GANLAB_RUNS=str(work / "runs"))
    return env


def _torchrun(work: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_port()}",
            "-m", "ganlab", "train", *args]


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines() if line.strip()]


def _files(run_dir: Path) -> set[str]:
    return {p.relative_to(run_dir).parts[0] for p in run_dir.rglob("*") if "checkpoints" not in p.parts[:-1]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A single-process reference (in this process, 1 thread) and a DDP run: launched, stopped by Ctrl-C (SIGINT to the
    launch's process group) mid-way, resumed under torchrun to TOTAL steps, then resumed again without torchrun."""
    ref_runs = tmp_path_factory.mktemp("ref")
    old = os.environ.get("GANLAB_THREADS")
    os.environ["GANLAB_THREADS"] = "1"
    try:
        assert main(["train", *TRAIN, "--steps", str(TOTAL), "--runs-dir", str(ref_runs)]) == 0
    finally:
        os.environ.pop("GANLAB_THREADS") if old is None else os.environ.__setitem__("GANLAB_THREADS", old)
    (ref,) = [p for p in ref_runs.iterdir() if p.is_dir()]

    work = tmp_path_factory.mktemp("ddp")
    env = _env(work)
    proc = subprocess.Popen(_torchrun(work, *TRAIN, "--steps", "5000"), cwd=work, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            stats = list((work / "runs").glob("*/stats.jsonl"))
            if stats and len(stats[0].read_text().splitlines()) >= 3:  # trained past step 30
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: every process of the launch gets it
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (run_dir,) = list((work / "runs").iterdir())
    stopped = {**Run.open(run_dir).status(), "checkpoint": Run.open(run_dir).last_checkpoint_step()}
    left = sorted(p.name for p in work.iterdir())

    resumed = subprocess.run(_torchrun(work, "--resume", str(run_dir), "--steps", str(TOTAL), "--quiet"), cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
    config_ddp = json.loads((run_dir / "config.json").read_text())
    rows_ddp = _rows(run_dir)
    return dict(ref=ref, run_dir=run_dir, work=work, stopped=stopped, stop_err=err, left=left, resumed=resumed,
                config_ddp=config_ddp, rows_ddp=rows_ddp)


def test_ddp_losses_match_a_single_process_run(runs):
    assert runs["resumed"].returncode == 0, runs["resumed"].stderr[-3000:]
    assert f"finished: step {TOTAL}/{TOTAL}" in runs["resumed"].stdout and "2 processes (DDP)" in runs["resumed"].stdout
    ref, ddp = _rows(runs["ref"]), runs["rows_ddp"]
    assert [r["step"] for r in ddp] == [r["step"] for r in ref] == list(range(10, TOTAL + 1, 10))  # one writer: no row twice
    for a, b in zip(ref, ddp):
        for c in COLUMNS:
            if a["step"] <= EARLY_STEPS:
                assert abs(a[c] - b[c]) <= EARLY_REL * abs(a[c]), (a["step"], c, a[c], b[c])
            assert abs(a[c] - b[c]) <= LATE_ABS, (a["step"], c, a[c], b[c])
    assert runs["config_ddp"]["world_size"] == 2
    assert json.loads((runs["ref"] / "config.json").read_text())["world_size"] == 1


def test_ctrl_c_stops_every_rank_at_one_step_with_a_checkpoint(runs):
    st = runs["stopped"]
    assert st["state"] == "stopped", (st, runs["stop_err"][-3000:])
    assert st["step"] >= 30
    assert st["checkpoint"] == st["step"]  # rank 0 saved where they all stopped


def test_only_rank_0_writes(runs):
    assert runs["left"] == ["runs"]  # nothing beside the runs dir (no data root, no stray files), one run in it
    assert list((runs["work"] / "runs").iterdir()) == [runs["run_dir"]]
    assert _files(runs["run_dir"]) == _files(runs["ref"])  # the files of a single-process run, no more
    assert "rank 1" not in runs["resumed"].stderr


def test_a_ddp_run_resumes_without_torchrun(runs, monkeypatch):
    monkeypatch.setenv("GANLAB_THREADS", "1")
    assert main(["train", "--resume", str(runs["run_dir"]), "--steps", str(TOTAL + 20), "--quiet"]) == 0
    run = Run.open(runs["run_dir"])
    assert run.status()["state"] == "finished" and run.last_checkpoint_step() == TOTAL + 20
    assert run.config().world_size == 1  # config.json records who trained it last
    assert [r["step"] for r in _rows(runs["run_dir"])][-3:] == [TOTAL, TOTAL + 10, TOTAL + 20]


def test_torchrun_refuses_what_cannot_be_data_parallel_in_one_line(tmp_path):
    p = subprocess.run(_torchrun(tmp_path, "--preset", "pattern1010", "--steps", "5", "--quiet"), cwd=tmp_path,
                       env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if line.startswith("ganlab: error:")]
    assert lines == ["ganlab: error: cannot train data-parallel: batch_size 1 cannot be shared by 2 processes: each needs "
                     "at least one sample of the global batch; give batch_size 2 or more (a multiple of 2), or start "
                     "fewer processes"], p.stderr[-3000:]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# ------------------------------------------------------------------ refusals, without launching
@pytest.mark.parametrize("changes, size, local, gpus, says", [
    ({"batch_size": 1}, 2, 2, 0, "batch_size 1 cannot be shared by 2 processes"),
    ({"batch_size": 130}, 4, 4, 0, "batch_size 130 does not divide among 4 processes"),
    ({"device": "cuda"}, 2, 2, 1, "with 2 processes on this machine, but it has 1 GPU"),
    ({"device": "cuda"}, 2, 2, 0, "this machine has no GPU: use device cpu"),
    ({"device": "auto"}, 4, 4, 2, "but it has 2 GPUs"),
    ({"device": "mps"}, 2, 2, 0, "train on cpu (gloo) or cuda (NCCL)"),
    ({"compile": True}, 2, 2, 0, "compile"),
    ({"g_topk": 0.5}, 2, 2, 0, "g_topk 0.5: top-k training ranks the whole batch's fakes"),
])
def test_refusal_says_why(changes, size, local, gpus, says):
    cfg = preset_config("digits").replace(**changes)
    assert says in distributed.refusal(cfg, size, local, gpus)


def test_refusal_allows_a_batch_that_divides():
    assert distributed.refusal(preset_config("digits").replace(device="cpu"), 2, 2, 0) is None
    assert distributed.refusal(preset_config("digits").replace(device="cuda"), 8, 4, 4) is None  # 2 machines x 4 GPUs


@pytest.fixture
def world_of(monkeypatch):
    """Pretend this process is rank 0 of a torchrun world (nothing collective runs before attach())."""
    def make(size: int) -> None:
        monkeypatch.setattr(distributed, "_world", distributed.World(size, 0, 0, size, "gloo"))
    return make


def test_a_new_run_is_refused_before_its_directory_exists(world_of, tmp_path):
    world_of(4)
    with pytest.raises(ConfigError, match="batch_size 130 does not divide among 4 processes"):
        RunSession.new(preset_config("digits").replace(batch_size=130), tmp_path / "runs", build_first=True)
    with pytest.raises(ConfigError, match="batch norm.*SyncBatchNorm runs on GPUs only"):
        RunSession.new(preset_config("dcgan").replace(device="cpu", batch_size=64), tmp_path / "runs", build_first=True)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_resume_whose_batch_does_not_divide_is_refused(world_of, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_THREADS", "1")
    cfg = RunConfig.from_dict(dict(dataset="ring8", steps=4, batch_size=6, g_hidden=[8], d_hidden=[8], log_every=2,
                                   checkpoint_every=2))
    session = RunSession.new(cfg, tmp_path / "runs")
    session.run_training()
    world_of(4)
    with pytest.raises(ConfigError, match="batch_size 6 does not divide among 4 processes"):
        RunSession.reopen(session.run.path, steps=8)
    assert session.run.config().steps == 4 and session.run.config().world_size == 1  # config.json untouched


def test_each_rank_takes_its_rows_of_the_global_batch():
    x = torch.arange(12).view(6, 2)
    parts = [distributed.slicer(distributed.World(3, r, r, 3, "gloo"))(x) for r in range(3)]
    assert torch.equal(torch.cat(parts), x) and all(len(p) == 2 for p in parts)
    assert distributed.slicer(None)(x) is x and distributed.slicer(distributed.World(2, 1, 1, 2, "gloo"))(None) is None


# ------------------------------------------------------------------ the tricky paths, a few Trainer steps each
TRICKY = [  # each must give the single-process numbers: global draws sliced, DDP around the net being updated
    dict(dataset="ring8", loss="wgan-gp", d_steps=3, batch_size=8, g_hidden=[16], d_hidden=[16], latent_dim=2,
         lr_schedule="linear", steps=6, log_every=2, ema=0.9),  # GP's interpolation weights, k > 1, a schedule
    dict(dataset="digits", conditional=True, loss="bce", spectral_norm=True, reuse_fakes=True, r1_weight=1.0, r1_every=2,
         batch_size=8, g_hidden=[32], d_hidden=[32], steps=6, log_every=2),  # labels, D called twice, kept fakes, lazy R1
]


def test_penalties_k_steps_labels_and_kept_fakes_match_one_process(tmp_path, monkeypatch):
    from tests.helpers.ddp_steps import steps

    monkeypatch.setenv("GANLAB_THREADS", "1")
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps(TRICKY))
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_port()}",
                        str(ROOT / "tests" / "helpers" / "ddp_steps.py"), str(configs), str(tmp_path / "out.json")],
                       cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    for cfg, ddp in zip(TRICKY, json.loads((tmp_path / "out.json").read_text()), strict=True):
        one = steps(RunConfig.from_dict(cfg))
        for a, b in zip(one["records"], ddp["records"], strict=True):
            assert a.keys() == b.keys()
            for k in a:
                if k not in ("time", "Speed/steps_per_s"):
                    assert abs(a[k] - b[k]) <= EARLY_REL * max(abs(a[k]), 1e-3), (cfg["loss"], a["step"], k, a[k], b[k])
        for net in ("G", "D"):
            diff = (torch.tensor(one["weights"][net]) - torch.tensor(ddp["weights"][net])).abs().max().item()
            assert diff <= 1e-5, (cfg["loss"], net, diff)


def test_under_torchrun_only_train_runs_and_rank_0_alone_says_why(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["runs"]) == 2
    assert capsys.readouterr().err == ("ganlab: error: only train runs data-parallel under torchrun; run "
                                       "`python -m ganlab runs` without torchrun\n")
    monkeypatch.setenv("RANK", "1")  # the other ranks read the same command line: one line in all, from rank 0
    assert main(["runs"]) == 2
    assert main(["train", "--no-such-flag"]) == 2
    assert capsys.readouterr().err == ""


def test_a_rank_that_dies_reads_as_one_sentence_with_the_checkpoint_kept(world_of, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_THREADS", "1")
    cfg = RunConfig.from_dict(dict(dataset="ring8", steps=4, batch_size=8, g_hidden=[8], d_hidden=[8], log_every=2,
                                   checkpoint_every=2))
    session = RunSession.new(cfg, tmp_path / "runs")
    session.run_training()
    world_of(2)
    gloo = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:10161: "
                        "Connection reset by peer. This is typically caused by a remote worker hanging")
    reopened = RunSession.reopen(session.run.path, steps=8)
    try:
        text = reopened._sentence(gloo)
    finally:
        reopened.close()
    assert text.startswith("another process of this torchrun launch stopped at step ") and "step 4) is kept" in text
    assert "gloo" not in text
