"""stop_at: a run ends "finished" at the first eval that meets its threshold, with a checkpoint and the reason, from
the CLI and from the dashboard's JobManager alike; validate refuses a stop_at it could never test."""

import json

import pytest

from ganlab import cli
from ganlab.config import RunConfig
from ganlab.config import thresholds as th
from ganlab.config.validate import validate_config
from ganlab.errors import ConfigError
from ganlab.jobs import JobManager
from ganlab.session import RunSession
from ganlab.store import Run

TINY = dict(dataset="ring8", steps=200, log_every=10, eval_every=10, snapshot_every=50, checkpoint_every=1000,
            g_hidden=[16, 16], d_hidden=[16], batch_size=64, device="cpu")


@pytest.fixture
def loose(monkeypatch):
    """A mixture threshold a tiny run meets at its second eval (step 20): the loop must stop at the first eval that
    meets it, not at the first eval."""
    t = th.Threshold("loose", "any eval from step 20", lambda row: row.get("step", 0) >= 20 and "Metric/modes_total" in row,
                     lambda row: f"{row['Metric/modes_covered']:.0f}/{row['Metric/modes_total']:.0f} modes")
    monkeypatch.setitem(th.THRESHOLDS, "mixture", (*th.THRESHOLDS["mixture"], t))
    return t


def test_a_run_stops_at_the_first_eval_meeting_its_threshold_with_a_checkpoint_and_the_reason(tmp_path, loose):
    session = RunSession.new(RunConfig(**TINY, stop_at="loose"), tmp_path)
    out = session.run_training()
    run = Run.open(session.run.path)
    assert (out.state, out.step) == ("finished", 20)
    assert out.stopped_early.startswith("stopped early: ") and out.stopped_early.endswith("(loose: any eval from step "
                                                                                          "20) at step 20")
    status = run.status()
    assert (status["state"], status["step"], status["stopped_early"]) == ("finished", 20, out.stopped_early)
    assert run.last_checkpoint_step() == 20
    assert [r["step"] for r in run.history()] == [10, 20]
    assert [m["step"] for m in run.metrics_history()] == [10, 20]


def test_the_jobmanager_honours_stop_at_and_its_snapshot_says_why(tmp_path, loose):
    jm = JobManager(tmp_path)
    rid = jm.start(RunConfig(**TINY, stop_at="loose"))
    assert jm.wait(rid, timeout=60) == "finished"
    snap = jm.snapshot(rid)
    assert snap.step == 20 and snap.stopped_early.startswith("stopped early: ")
    assert Run.open(jm.run_path(rid)).last_checkpoint_step() == 20


def test_the_cli_prints_the_reason(tmp_path, capsys, loose):
    args = ["train", "--dataset", "ring8", "--runs-dir", str(tmp_path), "--quiet"]
    for k, v in {**TINY, "stop_at": "loose"}.items():
        if k != "dataset":
            args += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "finished: step 20/200" in out and "stopped early: " in out and "at step 20" in out
    assert cli.main(["runs", "--runs-dir", str(tmp_path)]) == 0  # the list says why the run ended at 20 of 200
    row = capsys.readouterr().out.strip().split("\t")
    assert row[4:6] == ["finished", "20/200"] and row[6].startswith("stopped early: ") and row[6].endswith("at step 20")


def test_a_run_that_never_meets_it_trains_every_step(tmp_path):
    cfg = RunConfig(**{**TINY, "steps": 30}, stop_at="hq97")
    out = RunSession.new(cfg, tmp_path).run_training()
    assert (out.state, out.step, out.stopped_early) == ("finished", 30, None)
    assert "stopped_early" not in json.loads((tmp_path / next(p.name for p in tmp_path.iterdir()) / "status.json")
                                             .read_text())


@pytest.mark.parametrize("changes, words", [
    ({"stop_at": "hq95", "eval_every": 0}, "set eval_every"),
    ({"stop_at": "fd2x"}, "not a threshold for ring8; choose one of good, modes, hq90, hq95, hq97"),
    ({"stop_at": "good", "dataset": "gaussian2d", "arch": "linear"}, "has no quality thresholds"),
])
def test_validate_refuses_a_stop_at_it_could_never_test(changes, words):
    with pytest.raises(ConfigError, match="stop_at: .*" + words.split(";")[0].split("(")[0]):
        validate_config(RunConfig(**{**TINY, **changes}))
    validate_config(RunConfig(**{**TINY, "stop_at": "good"}))


def test_the_cli_refuses_it_in_one_line(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "ring8", "--runs-dir", str(tmp_path), "--set", "stop_at=good"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stop_at" in err and "eval_every" in err and not list(tmp_path.iterdir())


def test_resuming_a_run_that_stopped_early_trains_on_to_its_last_step(tmp_path, loose):
    first = RunSession.new(RunConfig(**{**TINY, "steps": 40}, stop_at="loose"), tmp_path)
    assert first.run_training().step == 20
    out = RunSession.reopen(first.run.path).run_training()
    assert (out.state, out.step, out.stopped_early) == ("finished", 40, None)
    assert "stopped_early" not in Run.open(first.run.path).status()
