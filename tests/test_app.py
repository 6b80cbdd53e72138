"""Dashboard pages under Streamlit's AppTest: every page loads, and the main flows work end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.models import ARCHS
from ganlab.ui.manager import get_manager
from tests.helpers.app import fresh_manager, wait_for  # noqa: F401 - fresh_manager: autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["views/train.py", "views/monitor.py", "views/latent.py", "views/runs.py", "views/data.py"]
TINY = {"cfg_g_hidden": "16", "cfg_d_hidden": "16", "cfg_batch_size": 32, "cfg_log_every": 10,
        "cfg_snapshot_every": 20, "cfg_checkpoint_every": 50}


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).run()



def fill_train_form(at: AppTest, steps: int) -> AppTest:
    at.selectbox(key="train_preset").set_value("ring8").run()
    for key, value in {**TINY, "cfg_steps": steps}.items():
        (at.text_input if isinstance(value, str) else at.number_input)(key=key).set_value(value)
    return at.run()


def start_run(at: AppTest, steps: int) -> str:
    fill_train_form(at, steps)
    assert not at.error, [e.value for e in at.error]
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    return at.session_state["run_id"]


def chart_specs(at: AppTest) -> str:
    return " ".join(c.proto.spec for c in at.get("plotly_chart"))


def test_every_page_loads_without_runs():
    """With an empty run store each page renders, and pages needing a run say how to get one."""
    at = app()
    assert not at.exception
    assert [t.value for t in at.title] == ["Train a GAN"]
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    at.switch_page("views/monitor.py").run()
    assert "No run selected" in at.info[0].value


def test_train_page_lists_registries_and_hdf5_files(tmp_path, monkeypatch):
    """Datasets, architectures and losses come from the registries; packed *.h5 files are datasets too."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "mine.h5").write_bytes(b"not really hdf5")
    at = app()
    options = at.selectbox(key="cfg_dataset").options
    assert "ring8" in options and "digits" in options
    assert any(o.endswith("mine.h5") for o in options)
    assert "wgan-gp" in at.selectbox(key="cfg_loss").options
    assert at.selectbox(key="cfg_arch").options == ARCHS.names()
    assert at.selectbox(key="cfg_lr_schedule").options == ["constant", "linear", "cosine"]
    at.selectbox(key="cfg_lr_schedule").set_value("cosine").run()
    assert '"lr_schedule": "cosine"' in at.code[0].value
    before = at.toggle(key="cfg_reuse_fakes").value
    at.toggle(key="cfg_reuse_fakes").set_value(not before).run()
    assert f'"reuse_fakes": {str(not before).lower()}' in at.code[0].value


def test_preset_fills_the_form():
    """Choosing a preset sets the widgets to its values (WGAN-GP: k = 5, betas 0 / 0.9)."""
    at = app()
    at.selectbox(key="train_preset").set_value("wgan-gp").run()
    assert at.selectbox(key="cfg_loss").value == "wgan-gp"
    assert at.number_input(key="cfg_d_steps").value == 5
    assert at.number_input(key="cfg_beta2").value == pytest.approx(0.9)
    assert at.text_input(key="cfg_g_hidden").value == "256,256"


def test_invalid_combination_is_explained_and_start_disabled():
    """A convolutional net on 2-D points is refused on the page, with the reason, before Start."""
    at = app()
    at.selectbox(key="cfg_dataset").set_value("ring8")
    at.selectbox(key="cfg_arch").set_value("dcgan").run()
    assert not at.exception
    assert any("dcgan" in e.value and "points" in e.value for e in at.error)
    assert at.button(key="start").disabled
    at.text_input(key="cfg_g_hidden").set_value("12,x").run()
    assert at.button(key="start").disabled


def test_start_pause_monitor_and_latent():
    """Start a ring8 run from Train: Monitor opens, it runs, pauses on request, and Latent opens."""
    at = app()
    run_id = start_run(at, steps=100_000)
    assert [t.value for t in at.title] == ["Monitor"]
    manager = get_manager()
    wait_for(lambda: manager.snapshot(run_id).step > 0, what="the first tick")
    at.run()
    assert "running" in at.get("progress")[0].proto.text
    at.button(key="pause").click().run()
    wait_for(lambda: manager.snapshot(run_id).state == "paused", what="pause")
    at.run()
    assert "paused" in at.get("progress")[0].proto.text
    assert "Resume" in [b.label for b in at.button]
    assert f"{run_id} · live" in at.sidebar.selectbox[0].options  # no state label that fragments would leave stale
    at.switch_page("views/latent.py").run()
    assert not at.exception
    assert at.session_state["run_id"] == run_id  # the picker's choice follows the tab across pages
    at.switch_page("views/runs.py").run()
    assert not at.exception
    assert at.selectbox(key="runs_chosen").value == run_id  # Runs opens on the selected run


def test_finished_run_shows_curves_with_equilibrium_from_disk():
    """A short run finishes; Monitor (fresh process view, from disk) draws losses with the equilibrium line (ring8's
    recipe plays LSGAN: 0.25, D outputs 0.5)."""
    at = app()
    run_id = start_run(at, steps=60)
    assert get_manager().wait(run_id, timeout=120) == "finished"
    get_manager().shutdown()
    get_manager.clear()  # as after a server restart: the run is only on disk now
    at.run()
    assert not at.exception
    assert "finished" in at.get("progress")[0].proto.text
    specs = chart_specs(at)
    assert "0.25: D outputs 0.5" in specs and "Losses" in specs
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"], "the loss chart has traces"


def test_runs_page_resume_and_delete_with_confirmation(tmp_path):
    """A stopped run can be resumed; delete asks first, then removes the directory."""
    manager = get_manager()
    cfg = RunConfig(steps=100_000, g_hidden=(8,), d_hidden=(8,), batch_size=16, log_every=10, checkpoint_every=10)
    run_id = manager.start(cfg)
    wait_for(lambda: manager.snapshot(run_id).step >= 10, what="a checkpoint")
    manager.stop(run_id)
    assert manager.wait(run_id, timeout=60) == "stopped"
    at = app()
    at.switch_page("views/runs.py").run()
    assert run_id in str(at.dataframe[0].value["run"].tolist())
    at.selectbox(key="runs_chosen").set_value(run_id).run()
    at.button(key="resume").click().run()
    assert not at.exception
    wait_for(lambda: manager.snapshot(run_id).state in ("running", "paused"), what="resume")
    manager.stop(run_id)
    manager.wait(run_id, timeout=60)
    at.switch_page("views/runs.py").run()
    at.selectbox(key="runs_chosen").set_value(run_id).run()
    at.button(key="delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert (manager.runs_dir / run_id).is_dir(), "nothing is deleted before the confirmation"
    at.button(key="confirm_delete").click().run()
    assert not at.exception
    assert not (manager.runs_dir / run_id).exists()


def test_unreadable_run_is_a_message_not_a_traceback():
    """A run whose config.json is corrupt shows an error on Monitor and Runs, never an exception."""
    bad = get_manager().runs_dir / "00042-ring8-mlp-bce"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text("{not json")
    at = app()
    assert at.session_state["run_id"] == bad.name  # the picker selects the newest run
    at.switch_page("views/monitor.py").run()
    assert not at.exception
    assert any("config.json" in e.value for e in at.error), [e.value for e in at.error]
    at.switch_page("views/runs.py").run()
    assert not at.exception
    assert "unreadable" in str(at.dataframe[0].value["state"].tolist())


def test_coverage_drop_flags_lost_modes_only():
    """The mode-collapse warning fires when the latest coverage is below its best, not on a plateau."""
    from ganlab.ui.monitor import coverage_drop

    h = [{"step": 100, "Metric/modes_covered": 5}, {"step": 150, "Loss/D": 0.7},
         {"step": 200, "Metric/modes_covered": 8}, {"step": 300, "Metric/modes_covered": 8}]
    assert coverage_drop(h, "Metric/modes_covered") is None
    h.append({"step": 400, "Metric/modes_covered": 6})
    assert coverage_drop(h, "Metric/modes_covered") == (6, 8, 200)
    assert coverage_drop([{"step": 1}], "Metric/modes_covered") is None


def test_last_record_reads_the_tail_and_skips_a_torn_line(tmp_path):
    """The Runs table reads only the end of stats.jsonl; a half-written last line is skipped."""
    from ganlab.store import Run
    from ganlab.ui.common import last_record

    run = Run.create(tmp_path, RunConfig())
    for i in range(2000):
        run.append_stats({"step": i, "Loss/D": 0.5 + i})
    with open(run.stats_path, "a") as f:
        f.write('{"step": 2000, "Loss/')
    assert last_record(run) == {"step": 1999, "Loss/D": 1999.5}
    assert last_record(Run(tmp_path / "missing")) == {}


def test_finished_conditional_image_run_shows_a_grid_and_time_lapse():
    """Digits, conditional: after the run ends Monitor shows the sample grid and the time-lapse slider."""
    manager = get_manager()
    cfg = RunConfig(dataset="digits", conditional=True, steps=20, batch_size=16, g_hidden=(16,), d_hidden=(16,),
                    latent_dim=4, log_every=10, snapshot_every=10, checkpoint_every=10, num_fixed=20)
    run_id = manager.start(cfg)
    assert manager.wait(run_id, timeout=120) == "finished"
    at = app()
    at.session_state["run_id"] = run_id
    at.switch_page("views/monitor.py").run()
    assert not at.exception, at.exception
    captions = [c for img in at.get("image") for c in img.captions]
    assert "Fixed latent batch at step 20 · one row per class" in captions
    assert at.select_slider(key=f"tl_{run_id}").value == 20  # the step of the last of the two snapshots
