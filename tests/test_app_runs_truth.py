"""The Runs page (and Monitor's Resume) never disagree with the run: what Resume can do and from where,
the recipe that tells runs apart, the whole note, the run a tab had open after a reconnect."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.store import Run
from ganlab.ui.manager import get_manager
from tests.helpers.app import fresh_manager, wait_for  # noqa: F401 - fresh_manager: autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(g_hidden=(8,), d_hidden=(8,), batch_size=16, log_every=10, snapshot_every=10, checkpoint_every=10)


def runs_page(run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if run_id:
        at.session_state["run_id"] = run_id
    at.run()
    return at.switch_page("views/runs.py").run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]



def finished_run(steps: int = 20, **extra) -> str:
    manager = get_manager()
    rid = manager.start(RunConfig(steps=steps, **{**TINY, **extra}))
    assert manager.wait(rid, 60) == "finished"
    return rid


def killed_after_its_checkpoint(rid: str) -> Run:
    """As if the server died at step 30 with its last checkpoint at 20 (status left 'running' by a dead pid)."""
    run = Run(get_manager().runs_dir / rid)
    run.checkpoints()[-1].unlink()
    status = json.loads(run.status_path.read_text())
    status.update(state="running", step=30, owner=f"{status['owner'].rsplit(':', 2)[0]}:999999999:1")
    run.status_path.write_text(json.dumps(status))
    assert run.status()["state"] == "interrupted"
    return run


def test_a_failed_run_without_its_data_shows_why_instead_of_resume():
    """mnist without files fails; Runs and Monitor say which files are missing, and offer no Resume."""
    manager = get_manager()
    rid = manager.start(RunConfig(dataset="mnist", steps=20, **TINY))
    assert manager.wait(rid, 60) == "failed"
    run = Run(manager.runs_dir / rid)
    (run.checkpoints_dir / "ckpt-000000010.pt").write_bytes(b"")  # Monitor used to offer Resume when one exists
    at = runs_page(rid)
    assert not at.exception
    assert "resume" not in [b.key for b in at.button], "no Resume button for a run that cannot resume"
    assert any("data files are missing" in c and "train-images-idx3-ubyte" in c for c in texts(at.caption))
    at.switch_page("views/monitor.py").run()
    assert not at.exception
    assert "resume" not in [b.key for b in at.button]
    assert any("data files are missing" in c for c in texts(at.caption))


def test_a_resume_that_fails_at_start_shows_the_failure_not_resumed():
    rid = finished_run(steps=20)
    run = Run(get_manager().runs_dir / rid)
    for ckpt in run.checkpoints():
        ckpt.write_bytes(b"not a checkpoint")
    run.write_status("stopped", 20)
    get_manager.clear()  # a fresh server: the run is only on disk
    at = runs_page(rid)
    at.button(key="resume").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Runs"], "a failed resume stays on Runs"
    assert not any("Resumed" in s for s in texts(at.success)), texts(at.success)
    assert any("did not resume" in e and "no usable checkpoint" in e for e in texts(at.error)), texts(at.error)
    assert get_manager().snapshot(rid).state == "failed"


def test_resume_says_which_steps_it_trains_again_before_and_after_the_click():
    rid = finished_run(steps=30)
    killed_after_its_checkpoint(rid)
    get_manager.clear()  # a fresh server: the run is only on disk
    at = runs_page(rid)
    plan = "from the checkpoint at step 20; steps 21–30 will be trained again"
    assert f"Resume continues {plan}." in texts(at.caption)
    assert plan in at.button(key="resume").help
    at.button(key="resume").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Monitor"]
    assert f"Resumed {rid} {plan}." in texts(at.success)
    assert get_manager().wait(rid, 60) == "finished"


def test_resume_without_a_checkpoint_says_it_starts_from_step_0():
    run = Run.create(get_manager().runs_dir, RunConfig(steps=20, **TINY))
    run.write_status("stopped", 0)
    at = runs_page(run.id)
    assert "Resume continues from step 0: no checkpoint yet." in texts(at.caption)
    at.switch_page("views/monitor.py").run()
    assert "Resume continues from step 0: no checkpoint yet." in texts(at.caption)


def test_a_finished_run_trains_more_steps_from_the_runs_page():
    rid = finished_run(steps=20)
    at = runs_page(rid)
    assert "resume" not in [b.key for b in at.button]
    at.number_input(key="more_steps").set_value(20).run()
    assert at.button(key="extend").label == "Train 20 more steps"
    assert "Resume continues from the checkpoint at step 20, on to step 40." in texts(at.caption)
    at.button(key="extend").click().run()
    assert not at.exception
    assert f"Resumed {rid} from the checkpoint at step 20, on to step 40." in texts(at.success)
    assert get_manager().wait(rid, 60) == "finished"
    run = Run(get_manager().runs_dir / rid)
    assert run.config().steps == 40 and run.history()[-1]["step"] == 40


def test_the_table_shows_the_recipe_and_the_whole_note():
    """Conditional, preset, k, lrs, latent and precision tell runs apart; a long note is shown in full."""
    manager = get_manager()
    cond = Run.create(manager.runs_dir, RunConfig(dataset="digits", conditional=True, d_steps=2, lr_d=2e-4, lr_g=1e-4,
                                                  latent_dim=8, precision="fp32", steps=20, **TINY))
    note = "RuntimeError: " + "a long explanation of what went wrong, " * 8 + "and what to do about it"
    cond.write_status("failed", 0, error=note)
    live = manager.start(RunConfig(steps=1_000_000, **TINY))
    manager.set_hparams(live, lr_d=5e-4, d_steps=3)
    wait_for(lambda: (manager.snapshot(live).history or [{}])[-1].get("k") == 3, what="the live edit to reach a tick")
    at = runs_page(cond.id)
    assert not at.exception
    df = at.dataframe[0].value
    for column in ("conditional", "preset", "dataset", "arch", "loss", "k", "lr_d", "lr_g", "latent", "precision",
                   "state", "step", "steps"):
        assert column in df.columns, column
    row = df[df["run"] == cond.id].iloc[0]
    assert bool(row["conditional"]) and row["k"] == 2 and row["latent"] == 8 and row["precision"] == "fp32"
    assert row["lr_d"] == 2e-4 and row["lr_g"] == 1e-4
    running = df[df["run"] == live].iloc[0]
    assert running["lr_d"] == 5e-4 and running["k"] == 3, "a live run shows the lr and k it trains with now"
    assert not bool(running["conditional"])
    assert any(note in e for e in texts(at.error)), "the whole note, not a cut-off cell"


def test_the_tab_keeps_its_run_across_a_reconnect():
    """The picked run goes into ?run=; a new session (reload, reconnect to a restarted server) reopens it."""
    manager = get_manager()
    older = Run.create(manager.runs_dir, RunConfig(steps=20, **TINY))
    newer = Run.create(manager.runs_dir, RunConfig(steps=20, **TINY))
    for run in (older, newer):
        run.write_status("stopped", 0)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.session_state["run_id"] == newer.id  # the newest by default
    at.sidebar.selectbox[0].set_value(older.id).run()
    assert at.query_params.get("run") == older.id
    at.switch_page("views/runs.py").run()
    assert at.query_params.get("run") == older.id, "a page switch keeps it in the URL"
    reconnected = AppTest.from_file(APP, default_timeout=60)
    reconnected.query_params["run"] = at.query_params["run"]
    reconnected.run()
    assert reconnected.session_state["run_id"] == older.id
    assert reconnected.sidebar.selectbox[0].value == older.id
    stray = AppTest.from_file(APP, default_timeout=60)
    stray.query_params["run"] = "../../etc"
    stray.run()
    assert not stray.exception and stray.session_state["run_id"] == newer.id


def test_delete_says_what_it_does_for_the_runs_state():
    manager = get_manager()
    failed = Run.create(manager.runs_dir, RunConfig(steps=20, **TINY))
    failed.write_status("failed", 0, error="boom")
    at = runs_page(failed.id)
    help_text = at.button(key="delete").help
    assert "Delete this failed run" in help_text and "Stop" not in help_text
    assert not at.button(key="delete").disabled
    live = manager.start(RunConfig(steps=1_000_000, **TINY))
    at = runs_page(live)
    assert at.button(key="delete").disabled and "is training" in at.button(key="delete").help
