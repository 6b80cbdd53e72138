"""Monitor shows the game (issue #17) on small real ring8 runs: arrows and manifold by their toggles, the divergence
chart, step by step on a paused run, the replay of game.h5 after a restart, and two runs compared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.session import RunSession
from ganlab.ui.manager import get_manager
from tests.helpers.app import fresh_manager, wait_for  # noqa: F401 - fresh_manager: autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(dataset="ring8", batch_size=16, g_hidden=(8,), d_hidden=(8,), log_every=10, snapshot_every=20,
            checkpoint_every=20)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, list[str]]:
    """Two finished ring8 runs (bce, lsgan) of 60 steps: game frames at steps 20, 40 and 60."""
    root = tmp_path_factory.mktemp("game")
    ids = []
    for loss in ("bce", "lsgan"):
        session = RunSession.new(RunConfig(loss=loss, steps=60, seed=1, **TINY), root / "runs", data_root=root / "data")
        assert session.run_training().state == "finished"
        ids.append(session.run.id)
    return root, ids


@pytest.fixture
def finished(store, monkeypatch) -> list[str]:
    root, ids = store
    monkeypatch.setenv("GANLAB_RUNS", str(root / "runs"))
    monkeypatch.setenv("GANLAB_DATA", str(root / "data"))
    return ids


def monitor(run_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state["run_id"] = run_id
    at.switch_page("views/monitor.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by their key's end (chart_game, chart_div, chart_timelapse, ...)."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def names(fig: dict) -> list[str]:
    return [t.get("name", "") for t in fig["data"]]


def has(fig: dict, prefix: str) -> bool:
    return any(n.startswith(prefix) for n in names(fig))


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_finished_run_shows_the_game_by_its_toggles_and_the_divergence_chart(finished):
    at = monitor(finished[0])
    figs = figures(at)
    game = figs["chart_game"]  # from game.h5: the run ended, nothing in memory
    assert "step 60" in game["layout"]["title"]["text"] and "plane: x₀, x₁" in game["layout"]["title"]["subtitle"]["text"]
    assert has(game, "G's gradient") and has(game, "G's manifold") and has(game, "D(x)")
    div = figs["chart_div"]  # beside the losses, from the records' Div/KL and Div/JS
    assert {"KL(real ‖ fake), 30×30 histogram", "JS(real, fake), 30×30 histogram"} <= set(names(div))

    at.toggle(key="game_arrows").set_value(False).run()
    game = figures(at)["chart_game"]
    assert not has(game, "G's gradient") and has(game, "G's manifold")
    assert not has(figures(at)["chart_timelapse"], "G's gradient")  # the replay follows the same toggles
    at.toggle(key="game_manifold").set_value(False).run()
    assert not has(figures(at)["chart_game"], "G's manifold")
    at.toggle(key="game_arrows").set_value(True).run()
    assert has(figures(at)["chart_game"], "G's gradient") and at.session_state["game_manifold"] is False

    # step by step needs a paused run in this app: the buttons are off, and a sentence says why
    assert all(button(at, label).disabled for label in ("One D step", "One G step", "One iteration"))
    assert any("resume it, then pause it" in c.value for c in at.caption)


def test_the_replay_slider_replays_game_h5_after_a_restart_and_makes_a_gif(finished):
    at = monitor(finished[0])
    slider = at.select_slider(key=f"tl_{finished[0]}")
    assert list(slider.options) == ["20", "40", "60"] and slider.value == 60
    replay = figures(at)["chart_timelapse"]
    assert "step 60" in replay["layout"]["title"]["text"] and has(replay, "G's gradient") and has(replay, "D(x)")
    slider.set_value(20).run()
    replay = figures(at)["chart_timelapse"]
    assert "step 20" in replay["layout"]["title"]["text"]
    fakes = next(t for t in replay["data"] if t.get("name") == "fake")

    get_manager.clear()  # a server restart: the frames are read from disk alone
    at.run()
    assert not at.exception
    assert "step 20" in figures(at)["chart_timelapse"]["layout"]["title"]["text"]
    assert next(t for t in figures(at)["chart_timelapse"]["data"] if t.get("name") == "fake") == fakes

    button(at, "Make a GIF").click().run()
    assert not at.exception and not at.error
    downloads = [d for d in at.get("download_button") if "replay" in d.proto.label]
    assert downloads and any("3 of the 3 snapshots" in c.value for c in at.caption)


def test_two_runs_side_by_side_at_the_nearest_snapshot_with_their_js_curves(finished):
    at = monitor(finished[0])
    at.select_slider(key=f"tl_{finished[0]}").set_value(40).run()
    at.selectbox(key="game_compare_with").set_value(finished[1]).run()
    assert not at.exception and not at.error
    figs = figures(at)
    this, other = figs["chart_compare_this"], figs["chart_compare_other"]
    assert finished[0] in this["layout"]["title"]["text"] and "step 40" in this["layout"]["title"]["text"]
    assert finished[1] in other["layout"]["title"]["text"] and "step 40" in other["layout"]["title"]["text"]
    assert this["layout"]["xaxis"]["range"] == other["layout"]["xaxis"]["range"]  # the same axes
    js = figs["chart_compare_js"]
    assert set(finished) <= set(names(js))


def test_step_buttons_take_one_d_step_then_one_g_step_and_show_before_and_after():
    manager = get_manager()
    run_id = manager.start(RunConfig(steps=100_000, d_steps=2, **TINY))
    wait_for(lambda: len(manager.snapshot(run_id).history) >= 2, what="two ticks")
    at = monitor(run_id)
    assert all(button(at, label).disabled for label in ("One D step", "One G step", "One iteration"))
    assert any("Pause the run" in c.value for c in at.caption)  # running: it says why the buttons are off

    manager.pause(run_id)
    wait_for(lambda: manager.snapshot(run_id).state == "paused", what="the pause")
    at.run()
    assert not button(at, "One D step").disabled
    step = manager.snapshot(run_id).current_step
    button(at, "One D step").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    figs = figures(at)
    before, after = figs["chart_step_before"], figs["chart_step_after"]
    assert f"step {step:,}" in before["layout"]["title"]["text"]
    assert "D step 1 of 2" in after["layout"]["title"]["text"]
    assert before["layout"]["xaxis"]["range"] == after["layout"]["xaxis"]["range"]
    assert "D loss" in after["layout"]["title"]["subtitle"]["text"]  # both losses on each side
    assert any("D step 1 of 2" in i.value for i in at.info)  # the StepView's sentence of what moved
    assert "D step 1 of 2 taken" in at.get("progress")[-1].proto.text

    button(at, "One D step").click().run()  # the second of k = 2
    at.run()  # the buttons redraw from the snapshot after it: no third D step in this iteration
    assert button(at, "One D step").disabled and not button(at, "One G step").disabled
    assert "the G step ends it" in button(at, "One D step").help

    button(at, "One G step").click().run()
    assert not at.exception and not at.error
    assert manager.snapshot(run_id).current_step == step + 1
    after = figures(at)["chart_step_after"]
    assert f"step {step + 1:,}" in after["layout"]["title"]["text"]
    assert manager.snapshot(run_id).state == "paused"


def test_an_image_run_steps_too_and_shows_its_fixed_samples_before_and_after():
    manager = get_manager()
    cfg = RunConfig(dataset="digits", arch="mlp", steps=100_000, batch_size=16, g_hidden=(16,), d_hidden=(16,),
                    log_every=10, snapshot_every=1000, checkpoint_every=1000)
    run_id = manager.start(cfg)
    wait_for(lambda: len(manager.snapshot(run_id).history) >= 1, what="a tick")
    manager.pause(run_id)
    wait_for(lambda: manager.snapshot(run_id).state == "paused", what="the pause")
    at = monitor(run_id)
    assert "game_arrows" not in [t.key for t in at.toggle]  # no game layers for images
    step = manager.snapshot(run_id).current_step
    button(at, "One iteration").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert manager.snapshot(run_id).current_step == step + 1
    captions = [c for img in at.get("image") for c in img.captions]
    assert any(c.startswith(f"Before: step {step:,}") for c in captions), captions
    assert any(c.startswith(f"After: step {step + 1:,}") and "D loss" in c for c in captions), captions


def test_the_nearest_snapshot_prefers_the_earlier_on_a_tie():
    from ganlab.ui.monitor import nearest_index

    assert [nearest_index([20, 40, 60], s) for s in (0, 30, 50, 55, 100)] == [0, 0, 1, 2, 2]
