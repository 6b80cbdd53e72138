"""Monitor never disagrees with the run (issue #22): the recipe it trains with now, progress between log ticks,
an early-stopped run's points, and a time-lapse whose slider and frame are the same snapshot after a resume."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.data import dataset_spec
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.ui import monitor as ui_monitor
from ganlab.ui.manager import get_manager
from tests.helpers.app import fresh_manager, wait_for  # noqa: F401 - fresh_manager: autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(dataset="ring8", batch_size=16, g_hidden=(8,), d_hidden=(8,), log_every=10, snapshot_every=20,
            checkpoint_every=20)



def monitor(run_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state["run_id"] = run_id
    at.switch_page("views/monitor.py").run()
    assert not at.exception, at.exception
    return at


def progress_text(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def header(at: AppTest) -> str:
    return next(c.value for c in at.caption if " · batch " in c.value)


def figures(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by their key's end (chart_loss, chart_recipe, chart_timelapse, ...)."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def values(trace: dict, axis: str = "x") -> list:
    """A trace's x or y from the figure's JSON: a list, or plotly's base64 typed array."""
    v = trace.get(axis, [])
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def test_header_form_and_charts_show_the_live_recipe_after_a_resume():
    """k -> 2 and lr_d -> 5e-4 live, stop, resume: the header and the form say so (config.json says k = 1),
    the lr/k chart marks the change, the loss chart has a line there, and so does a page reading disk only."""
    manager = get_manager()
    run_id = manager.start(RunConfig(steps=100_000, **TINY))
    wait_for(lambda: len(manager.snapshot(run_id).history) >= 2, what="two ticks")
    manager.set_hparams(run_id, lr_d=5e-4, d_steps=2)
    wait_for(lambda: sum(r.get("k") == 2 for r in manager.snapshot(run_id).history) >= 2, what="records with k = 2")
    manager.stop(run_id)
    assert manager.wait(run_id, timeout=60) == "stopped"
    changed_at = next(r["step"] for r in manager.snapshot(run_id).history if r.get("k") == 2)
    assert Run.open(manager.runs_dir / run_id).config().d_steps == 1  # the start values stay in config.json
    manager.resume(run_id)
    wait_for(lambda: manager.snapshot(run_id).hparams, what="the resumed trainer")

    at = monitor(run_id)
    assert "k = 2 · lr D 0.0005 · lr G 0.001 ·" in header(at), header(at)  # lr G as it started
    k_box = next(n for n in at.number_input if n.label.startswith("k:"))
    lr_box = next(n for n in at.number_input if n.label == "D learning rate")
    assert (k_box.value, lr_box.value) == (2, 5e-4)  # Apply keeps what it trains with, not config.json's
    figs = figures(at)
    marks = [t for t in figs["chart_recipe"]["data"] if t["name"] == "live change"]
    assert sorted((values(t)[0], values(t, "y")[0]) for t in marks) == [(changed_at, 5e-4), (changed_at, 2)]
    assert [s["x0"] for s in figs["chart_loss"]["layout"]["shapes"]] == [changed_at]

    manager.shutdown()
    get_manager.clear()  # a server restart: the run is on disk only
    at.run()
    assert not at.exception, at.exception
    assert "k = 2 · lr D 0.0005" in header(at), header(at)
    assert "chart_recipe" in figures(at)


def test_live_recipe_prefers_the_job_then_the_newest_record_then_the_config():
    """Pure: the header's values; a schedule's factor is taken out of a record's lr to give the base lr."""
    cfg = RunConfig(lr_d=1e-3, lr_g=2e-4, d_steps=1)
    recs = [{"step": 10, "LR/D": 1e-3, "LR/G": 2e-4, "k": 1}, {"step": 20, "LR/D": 5e-4, "LR/G": 2e-4, "k": 3}, {"step": 30}]
    job = {"lr_d": 7e-4, "lr_g": 1e-4, "d_steps": 5}
    assert ui_monitor.live_recipe(cfg, job, recs) == job
    assert ui_monitor.live_recipe(cfg, {}, recs) == {"lr_d": 5e-4, "lr_g": 2e-4, "d_steps": 3}
    assert ui_monitor.live_recipe(cfg, None, []) == {"lr_d": 1e-3, "lr_g": 2e-4, "d_steps": 1}
    linear = RunConfig(lr_d=1e-3, lr_g=1e-3, steps=100, lr_schedule="linear", lr_end_factor=0.0)
    rec = {"step": 51, "LR/D": 1e-3 * 0.5, "LR/G": 1e-3 * 0.5, "k": 1}  # the update after 50 steps used factor 0.5
    assert np.isclose(ui_monitor.live_recipe(linear, None, [rec])["lr_d"], 1e-3)


def test_progress_moves_between_log_ticks_and_says_paused():
    """No tick for 100,000 steps: the step, steps/s and ETA still move each refresh; paused says paused."""
    manager = get_manager()
    quiet = {"log_every": 100_000, "checkpoint_every": 100_000, "snapshot_every": 100_000}  # every one is a tick
    run_id = manager.start(RunConfig(steps=10_000_000, **{**TINY, **quiet}))
    wait_for(lambda: manager.snapshot(run_id).state == "running", what="the start")
    time.sleep(1.0)  # a few hundred steps
    assert manager.snapshot(run_id).history == () and manager.snapshot(run_id).step == 0  # no tick yet
    at = monitor(run_id)
    first = int(progress_text(at).split("step ")[1].split(" /")[0].replace(",", ""))
    assert first > 0, progress_text(at)
    assert "the charts start at step 100,000" in progress_text(at)
    time.sleep(2.5)
    at.run()
    text = progress_text(at)
    step = int(text.split("step ")[1].split(" /")[0].replace(",", ""))
    sps = float(text.split(" steps/s")[0].rsplit("· ", 1)[1].replace(",", ""))
    assert step > first and sps > 0 and "ETA —" not in text, text
    manager.pause(run_id)
    wait_for(lambda: manager.snapshot(run_id).state == "paused", what="pause")
    at.run()
    assert "· speed: paused · ETA: paused" in progress_text(at), progress_text(at)


def test_a_run_stopped_after_one_tick_shows_its_points():
    """One tick, then stop: every curve on Monitor draws its one point as a marker instead of an empty chart."""
    manager = get_manager()
    session = RunSession.new(RunConfig(steps=100_000, **TINY), manager.runs_dir, data_root=manager.data_root)
    assert session.run_training(should_stop=lambda: session.trainer.step >= 15).state == "stopped"
    assert [r["step"] for r in session.run.history()] == [10]
    figs = figures(monitor(session.run.id))
    for name in ("chart_loss", "chart_dout", "chart_grad", "chart_recipe"):
        drawn = [t for t in figs[name]["data"] if len(values(t)) == 1 and t.get("showlegend") is not False]
        assert drawn and all("markers" in t["mode"] for t in drawn), (name, figs[name]["data"])


def test_timelapse_slider_and_frame_agree_after_a_resume_drops_snapshots():
    """Snapshots 10..60, checkpoint 30 left: a resume stopped at 35 has trained 40..60 away (samples.h5 still holds
    them until its next snapshot): both tabs show only 10..30, each slider on the frame it draws; then 10..40."""
    manager = get_manager()
    cfg = RunConfig(steps=60, **{**TINY, "snapshot_every": 10, "checkpoint_every": 30, "keep_checkpoints": 5})
    session = RunSession.new(cfg, manager.runs_dir, data_root=manager.data_root)
    assert session.run_training().state == "finished"
    run_id, run = session.run.id, session.run
    follow, picked = monitor(run_id), monitor(run_id)  # two tabs: one follows the newest, one picks step 50
    key = f"tl_{run_id}"
    assert follow.select_slider(key=key).options == ["10", "20", "30", "40", "50", "60"]
    assert follow.select_slider(key=key).value == 60
    picked.select_slider(key=key).set_value(50).run()
    assert figures(picked)["chart_timelapse"]["layout"]["title"]["text"] == "<b>The game at step 50 (replay)</b>"

    run.checkpoint_path(60).unlink()  # as if the process died after step 60 with its checkpoint at 30 kept

    def resume_to(step: int) -> None:
        again = RunSession.reopen(run.path, data_root=manager.data_root)
        assert again.run_training(should_stop=lambda: again.trainer.step >= step).state == "stopped"

    for stop_at, steps in ((35, ["10", "20", "30"]), (45, ["10", "20", "30", "40"])):
        resume_to(stop_at)
        for at in (follow, picked):
            at.run()
            assert not at.exception, at.exception
            slider = at.select_slider(key=key)
            title = figures(at)["chart_timelapse"]["layout"]["title"]["text"]
            assert slider.options == steps, (stop_at, slider.options)
            assert slider.value == int(steps[-1]) and title == f"<b>The game at step {steps[-1]} (replay)</b>", title
        assert any("no longer in this run" in c.value for c in picked.caption)
    picked.select_slider(key=key).set_value(20).run()  # an explicit older pick is kept as it is
    assert figures(picked)["chart_timelapse"]["layout"]["title"]["text"] == "<b>The game at step 20 (replay)</b>"


def test_timelapse_frames_and_pick_are_one_list():
    """Pure: frames at or before the run's step, a repeated step once (its newer row); the pick clamps to them."""
    frames = ui_monitor.timelapse_frames(np.array([10, 20, 30, 30, 40, 50]), upto=35)
    assert frames == [(10, 0), (20, 1), (30, 3)]
    assert [ui_monitor.pick_frame(frames, wanted) for wanted in (None, 20, 45, 5)] == [2, 1, 2, 0]
    assert ui_monitor.timelapse_frames(np.array([10, 20]), upto=None) == [(10, 0), (20, 1)]


def test_the_sample_grid_is_built_to_fill_its_column(tmp_path):
    """64 digits of 8x8 make a grid about 720 px wide (whole-pixel enlargement), not 274 px; one row per class
    keeps a conditional grid within the same height."""
    spec = dataset_spec("digits", tmp_path)
    grid = ui_monitor.sample_grid(np.random.default_rng(0).random((64, 1, 8, 8)), spec, conditional=False)
    assert 700 <= grid.shape[1] <= 900 and grid.shape[0] == grid.shape[1]
    cond = ui_monitor.sample_grid(np.random.default_rng(0).random((20, 1, 8, 8)), spec, conditional=True)
    assert 700 <= cond.shape[0] <= 900 and cond.shape[1] < 200  # 10 classes, 2 each: 10 rows, no taller than wide


def test_downloaded_strips_are_enlarged_and_labelled():
    """The Latent page's PNG strip (10 digits were 342x36 px, unlabelled): >= 128 px tiles, captions, a title."""
    from PIL import Image

    from ganlab.ui.latent_widgets import strip_png

    x = np.random.default_rng(0).random((10, 1, 8, 8))
    png = Image.open(io.BytesIO(strip_png(x, [f"t = {t:.2f}" for t in np.linspace(0, 1, 10)], "run · slerp · G at step 2,000")))
    assert png.size[0] >= 10 * 128 and png.size[1] >= 128 + 40, png.size


def test_timelapse_strip_is_labelled_with_steps(tmp_path):
    """The time-lapse's PNG: up to ten evenly spaced snapshots, first and last in, each a labelled 4x4 grid."""
    from PIL import Image

    assert ui_monitor.evenly_spaced(3, 10) == [0, 1, 2] and ui_monitor.evenly_spaced(100, 10)[::9] == [0, 99]
    assert len(ui_monitor.evenly_spaced(100, 10)) == 10 and ui_monitor.evenly_spaced(1, 10) == [0]
    samples = (np.random.default_rng(0).random((30, 64, 1, 8, 8)) * 255).astype(np.uint8)  # as samples.h5 stores them
    frames = ui_monitor.timelapse_frames(np.arange(1, 31) * 100, upto=None)
    png = Image.open(io.BytesIO(ui_monitor.timelapse_strip_png("run", frames, samples, dataset_spec("digits", tmp_path))))
    assert png.size[0] >= 10 * 160 and png.size[1] >= 160, png.size
