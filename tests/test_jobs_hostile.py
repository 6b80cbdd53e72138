"""Hostile run ids and the engine's resume checks: a run outside the store is never deleted nor resumed,
and Resume says why it cannot work, and where it would continue from, before anything starts."""

from __future__ import annotations

import json
import os

import pytest

from ganlab.config import RunConfig
from ganlab.errors import ConfigError, RunError
from ganlab.jobs import JobManager
from ganlab.store import Run

TINY = dict(g_hidden=(8,), d_hidden=(8,), batch_size=16, log_every=10, snapshot_every=10, checkpoint_every=10)


@pytest.fixture
def store_and_outsider(tmp_path):
    """A manager on tmp/runs with one run of its own, and a genuine run directory outside the store."""
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    inside = Run.create(jm.runs_dir, RunConfig(steps=20, **TINY))
    outside = Run.create(tmp_path / "elsewhere", RunConfig(steps=20, **TINY))
    outside.write_status("stopped", 0)
    return jm, inside, outside


def _hostile_ids(jm: JobManager, outside: Run) -> list[str]:
    link = jm.runs_dir / "00077-link-mlp-bce"
    os.symlink(outside.path, link)  # a link inside the store that leads out of it
    return [str(outside.path), str(outside.path.resolve()), f"../elsewhere/{outside.id}",
            f"{jm.runs_dir}/../elsewhere/{outside.id}", "..", ".", "", link.name, "no-such-run", "a\0b"]


def test_delete_refuses_anything_but_a_run_of_the_store(store_and_outsider):
    jm, inside, outside = store_and_outsider
    for rid in _hostile_ids(jm, outside):
        with pytest.raises(RunError, match="not a run"):
            jm.delete(rid)
    assert outside.config_path.is_file() and outside.checkpoints_dir.is_dir(), "the outside run is untouched"
    assert (jm.runs_dir / "00077-link-mlp-bce").is_symlink()
    jm.delete(inside.id)  # a plain name of a run in the store still works
    assert not inside.path.exists()


def test_resume_refuses_anything_but_a_run_of_the_store(store_and_outsider):
    jm, _, outside = store_and_outsider
    before = outside.status_path.read_bytes()
    for rid in _hostile_ids(jm, outside):
        with pytest.raises(RunError, match="not a run"):
            jm.resume(rid)
        with pytest.raises(RunError, match="not a run"):
            jm.resume_and_report(rid)
        assert "not a run" in jm.resume_blocker(rid)
    assert jm.live_ids() == [] and jm._all() == [], "no thread was started"
    assert outside.status_path.read_bytes() == before and not outside.stats_path.exists()


def test_a_failed_run_without_its_data_files_says_why_it_cannot_resume(tmp_path):
    """mnist's files are not under the data root: the run fails; resume_blocker names the missing files."""
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    rid = jm.start(RunConfig(dataset="mnist", steps=20, **TINY))
    assert jm.wait(rid, 60) == "failed"
    blocker = jm.resume_blocker(rid)
    assert blocker and "data files are missing" in blocker and "train-images-idx3-ubyte" in blocker
    assert str(tmp_path / "data" / "MNIST" / "raw") in blocker
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / f"{name}.gz").write_bytes(b"")
    assert "t10k-labels-idx1-ubyte" in jm.resume_blocker(rid) and "train-images" not in jm.resume_blocker(rid)


def test_a_run_whose_packed_file_is_gone_or_whose_device_is_missing_cannot_resume(tmp_path):
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    gone = Run.create(jm.runs_dir, RunConfig(dataset=f"hdf5:{tmp_path / 'deleted.h5'}", steps=20, **TINY))
    gone.write_status("interrupted", 0)
    assert "cannot train on this machine: dataset:" in jm.resume_blocker(gone.id)
    with pytest.raises(ConfigError):
        jm.resume(gone.id)


def test_blocker_for_a_live_run_a_finished_run_and_one_trained_elsewhere(tmp_path):
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    rid = jm.start(RunConfig(steps=20, **TINY))
    assert jm.wait(rid, 60) == "finished"
    assert "has finished all 20 steps" in jm.resume_blocker(rid)
    assert jm.resume_blocker(rid, steps=40) is None
    assert "above the 20 steps" in jm.resume_blocker(rid, steps=20)
    with pytest.raises(ConfigError, match="above the 20 steps"):
        jm.resume(rid, steps=10)
    assert Run(jm.runs_dir / rid).config().steps == 20, "a refused total is not written to config.json"
    live = jm.start(RunConfig(steps=1_000_000, **TINY))
    try:
        assert "is training now" in jm.resume_blocker(live)
        with pytest.raises(RunError, match="still training"):
            jm.delete(live)
    finally:
        jm.stop(live)
        jm.wait(live, 60)
    other = Run.create(jm.runs_dir, RunConfig(steps=20, **TINY))
    other.write_status("running", 5)
    status = json.loads(other.status_path.read_text())
    status["owner"] = f"{status['owner'].rsplit(':', 2)[0]}:1:"  # pid 1 is alive on every Linux box
    other.status_path.write_text(json.dumps(status))  # so another process trains this run
    assert "another process" in jm.resume_blocker(other.id)
    with pytest.raises(RunError, match="another process"):
        jm.delete(other.id)


def test_finished_run_trains_on_to_a_new_total(tmp_path):
    """resume(steps=) continues a finished run from its last checkpoint and writes the new total to config.json."""
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    rid = jm.start(RunConfig(steps=20, **TINY))
    assert jm.wait(rid, 60) == "finished"
    assert jm.resume_plan(rid, steps=40) == "from the checkpoint at step 20, on to step 40"
    result = jm.resume_and_report(rid, steps=40)
    assert result.ok and result.message == f"Resumed {rid} from the checkpoint at step 20, on to step 40."
    assert jm.wait(rid, 60) == "finished"
    run = Run(jm.runs_dir / rid)
    assert run.config().steps == 40 and [r["step"] for r in run.history()] == [10, 20, 30, 40]


def test_resume_says_what_it_trains_again_and_reports_a_start_that_fails(tmp_path):
    """Killed at step 30 with a checkpoint at 20: the plan says 21–30 are trained again; a bad checkpoint is a failure."""
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    rid = jm.start(RunConfig(steps=30, checkpoint_every=20, **{k: v for k, v in TINY.items() if k != "checkpoint_every"}))
    assert jm.wait(rid, 60) == "finished"
    run = Run(jm.runs_dir / rid)
    run.checkpoints()[-1].unlink()  # as if killed after step 30 was logged, before its checkpoint
    run.write_status("interrupted", 30)
    assert jm.resume_plan(rid) == "from the checkpoint at step 20; steps 21–30 will be trained again"
    result = jm.resume_and_report(rid)
    assert result.ok and "from the checkpoint at step 20; steps 21–30 will be trained again" in result.message
    assert jm.wait(rid, 60) == "finished"
    for ckpt in run.checkpoints():
        ckpt.write_bytes(b"not a checkpoint")
    run.write_status("stopped", 30)
    result = jm.resume_and_report(rid)
    assert not result.ok and "did not resume" in result.message and "no usable checkpoint" in result.message


def test_resume_point_text():
    from ganlab.jobs import resume_point_text

    assert resume_point_text(None, 0) == "from step 0: no checkpoint yet"
    assert resume_point_text(None, 150) == "from step 0: no checkpoint yet, so steps 1–150 will be trained again"
    assert resume_point_text(5000, 5150) == "from the checkpoint at step 5,000; steps 5,001–5,150 will be trained again"
    assert resume_point_text(5000, 5000) == "from the checkpoint at step 5,000"
