"""The Train page's dataset-aware recipe and point families, under AppTest: the form fills with the recipe for the
picked data and says so, a field the person changes wins, and a family with its parameters starts a real run."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ganlab.config.recipes_images import IMAGES_28, IMAGES_32
from ganlab.config.recipes_points import POINTS
from ganlab.ui.manager import get_manager
from tests.helpers.app import fresh_manager, wait_for  # noqa: F401 - fresh_manager: autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
DEFAULT_LATENT = 16  # RunConfig's


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).run()


def config_json(at: AppTest) -> dict:
    return json.loads(at.code[0].value)


def infos(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def test_picking_mnist_fills_the_form_with_the_28px_recipe_and_says_so():
    at = app()
    at.selectbox(key="cfg_dataset").set_value("mnist").run()
    assert not at.exception
    assert at.selectbox(key="cfg_arch").value == "dcgan"
    assert at.number_input(key="cfg_latent_dim").value == IMAGES_28["latent_dim"]
    assert at.number_input(key="cfg_steps").value == IMAGES_28["steps"]
    assert at.number_input(key="cfg_coarse_layers").value == IMAGES_28["coarse_layers"] == 1
    assert "Recommended recipe for 28x28 grey images" in infos(at) and "Change any field" in infos(at)
    cfg = config_json(at)
    assert cfg["recipe"] == "images-28" and cfg["arch"] == "dcgan" and cfg["batch_size"] == IMAGES_28["batch_size"]
    assert all(cfg[k] == v for k, v in IMAGES_28.items()), "a recipe field the form does not show still reaches the run"


def test_a_field_the_person_changes_wins_over_every_recipe():
    at = app()
    at.selectbox(key="cfg_dataset").set_value("mnist").run()
    at.number_input(key="cfg_steps").set_value(123).run()
    at.selectbox(key="cfg_dataset").set_value("cifar10").run()  # another recipe: the changed field stays
    assert at.number_input(key="cfg_steps").value == 123
    assert at.number_input(key="cfg_batch_size").value == IMAGES_32["batch_size"]
    assert "32x32 colour images" in infos(at) and "yours win: `steps`" in infos(at)
    assert config_json(at)["recipe"] == "images-32" and config_json(at)["steps"] == 123
    at.selectbox(key="cfg_arch").set_value("mlp").run()  # not the recipe's architecture: no recipe
    assert not at.info and any("No recommended recipe" in c.value for c in at.caption)
    assert at.number_input(key="cfg_latent_dim").value == DEFAULT_LATENT and at.number_input(key="cfg_steps").value == 123
    assert config_json(at)["recipe"] == ""
    at.selectbox(key="cfg_arch").set_value("dcgan").run()  # the recipe's again: its values come back
    assert at.number_input(key="cfg_latent_dim").value == IMAGES_32["latent_dim"]
    assert config_json(at)["recipe"] == "images-32"


def test_a_preset_means_no_recipe_and_leaving_it_brings_the_recipe_back():
    at = app()
    at.selectbox(key="train_preset").set_value("wgan-gp").run()
    assert not at.info and config_json(at)["recipe"] == "" and config_json(at)["loss"] == "wgan-gp"
    at.selectbox(key="train_preset").set_value("").run()
    assert "point data" in infos(at)
    assert config_json(at)["recipe"] == "points" and config_json(at)["loss"] == POINTS["loss"]


def test_a_bad_family_parameter_is_explained_and_start_disabled():
    at = app()
    at.selectbox(key="cfg_dataset").set_value("family:ring").run()
    at.number_input(key="train_family_ring_n").set_value(1).run()
    assert not at.exception
    assert any("n must be a whole number from 2 to 64" in e.value for e in at.error)
    assert at.button(key="start").disabled


def test_stop_when_good_sets_stop_at_and_turns_quality_checks_on():
    at = app()
    assert at.number_input(key="cfg_eval_every").value == 0
    at.toggle(key="train_stop_good").set_value(True).run()
    cfg = config_json(at)
    assert cfg["stop_at"] == "good" and cfg["eval_every"] > 0 and not at.error
    at.toggle(key="train_stop_good").set_value(False).run()
    assert config_json(at)["stop_at"] == ""


def test_the_family_picker_starts_a_real_tiny_run_with_the_recipe_recorded():
    at = app()
    at.selectbox(key="cfg_dataset").set_value("family:grid").run()
    at.number_input(key="train_family_grid_rows").set_value(3)
    at.number_input(key="train_family_grid_cols").set_value(4)
    at.number_input(key="train_family_grid_std").set_value(0.1).run()
    for key, value in {"cfg_g_hidden": "16", "cfg_d_hidden": "16", "cfg_batch_size": 32, "cfg_log_every": 10,
                       "cfg_snapshot_every": 10, "cfg_steps": 20}.items():
        (at.text_input if isinstance(value, str) else at.number_input)(key=key).set_value(value)
    at.run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["run_id"]
    manager = get_manager()
    assert manager.wait(run_id, timeout=120) == "finished"
    at.run()  # Monitor on the finished family run: its 2-D views and metrics read the family's centres
    assert not at.exception, at.exception
    run_dir = manager.runs_dir / run_id
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["dataset"] == "grid:3x4,std=0.1" and saved["recipe"] == "points"
    assert saved["g_hidden"] == [16] and saved["latent_dim"] == POINTS["latent_dim"]
    at.switch_page("views/train.py").run()  # coming back: the family and its parameters are still in the form
    assert at.selectbox(key="cfg_dataset").value == "family:grid"
    assert at.number_input(key="train_family_grid_cols").value == 4


def test_the_ready_line_shows_the_measured_time_when_there_is_one(monkeypatch):
    from ganlab.config import timing

    measured = timing.Expected(threshold="hq95", threshold_label="every mode, 95% high quality", seconds_to_threshold=40.0,
                               worst_seconds_to_threshold=55.0, seconds_to_end=150.0, measured_on="ring:5", threads=1,
                               seeds=5, date="2026-12-01", cpu="Test CPU")
    monkeypatch.setattr(timing, "expected_time", lambda cfg, *a, **k: measured if cfg.recipe == "points" else None)
    at = app()
    ready = " ".join(s.value for s in at.success)
    assert "Expected: about 40 s to every mode, 95% high quality" in ready and "Test CPU" in ready
    at.selectbox(key="cfg_arch").set_value("linear").run()  # no recipe: nothing measured to quote
    assert "Expected" not in " ".join(s.value for s in at.success)
