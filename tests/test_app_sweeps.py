"""The Sweeps page under AppTest: a real finished sweep's table and charts, a live one's progress, the start form's
spec and its messages for bad input (never a traceback, nothing started)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ganlab.ui.sweeps as sweeps_ui
from ganlab.config.presets import PRESETS
from ganlab.errors import ConfigError
from ganlab.sweeps import SweepDir, SweepInfo, SweepSpec, TrialInfo, list_sweeps, parse_grid
from ganlab.sweeps import parse_seeds as cli_parse_seeds
from ganlab.sweeps.spec import MAX_TRIALS
from ganlab.sweeps.trial import run_trial
from tests.helpers.app import fresh_manager  # noqa: F401 - fresh_manager: autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "views/sweeps.py"
TINY = {"steps": 60, "log_every": 10, "eval_every": 30, "g_hidden": [32, 32], "d_hidden": [32, 32],
        "checkpoint_every": 60, "snapshot_every": 60, "batch_size": 64}


@pytest.fixture(autouse=True)
def no_drivers_from_other_tests():
    """The drivers a server started are a process-wide cache: each test starts with none (fakes never end)."""
    sweeps_ui._drivers.clear()
    yield
    sweeps_ui._drivers.clear()


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """ring8, loss = bce, hinge over seeds 0 and 1: four real trials trained by the sweep engine's trial code
    (what each Ray worker runs), in this process, so the test pays for no Ray start-up."""
    runs = tmp_path_factory.mktemp("sweep-runs")
    spec = SweepSpec(base={**PRESETS.get("ring8").values, **TINY}, grid={"loss": ["bce", "hinge"]}, seeds=[0, 1])
    sweep = SweepDir.for_spec(runs, spec)
    threads = os.environ.get("GANLAB_THREADS")
    try:
        for trial in spec.trials():
            run_trial(sweep, trial, data_root=tmp_path_factory.mktemp("data"))
    finally:
        if threads is None:
            os.environ.pop("GANLAB_THREADS", None)
        else:
            os.environ["GANLAB_THREADS"] = threads
    sweep.write_driver("finished")
    return runs, sweep.id


def control(widgets, name: str):
    """A chart control of the Sweeps page: its key is its name and a digest of its options (ganlab.ui.sweeps.follow)."""
    (widget,) = [w for w in widgets if (w.key or "").startswith(name + "[")]
    return widget


def page(runs_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv("GANLAB_RUNS", str(runs_dir))
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page(PAGE).run()


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_a_finished_sweep_shows_its_trials_parcoords_and_banded_curves(finished_sweep, monkeypatch):
    runs, sweep_id = finished_sweep
    at = page(runs, monkeypatch)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="sweep_picker").value == sweep_id
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table["state"]) == {"finished"}
    assert sorted(zip(table["loss"], table["seed"])) == [("bce", 0), ("bce", 1), ("hinge", 0), ("hinge", 1)]
    assert list(table["step"]) == [60] * 4 and list(table["progress"]) == [1.0] * 4
    assert "modes_covered" in table.columns and table["high_quality_rate"].notna().all()
    assert "modes_total" not in table.columns, "the data's own count is the same for every trial"
    best = max(zip(table["high_quality_rate"], table["loss"], table["seed"]), key=lambda r: r[0])  # first of ties
    captions = " ".join(c.value for c in at.caption)
    if (table["high_quality_rate"] == best[0]).all():  # 60 steps may leave every trial at 0: a tie, said as one
        assert "No best by high-quality rate yet: all 4 scored trials have" in captions
    else:
        assert f"Best by high-quality rate (higher is better): **loss={best[1]}**, seed {best[2]}" in captions
    figures = plotly_specs(at)
    (parcoords,) = [t for f in figures for t in f["data"] if t["type"] == "parcoords"]
    dims = {d["label"]: d for d in parcoords["dimensions"]}
    assert dims["loss"]["ticktext"] == ["bce", "hinge"] and sorted(dims["loss"]["values"]) == [0, 0, 1, 1]
    assert "high-quality rate" in dims
    curves = [t for f in figures for t in f["data"] if t["type"] == "scatter"]
    names = {t["name"] for t in curves}
    assert {"loss=bce (2 seeds)", "loss=hinge (2 seeds)"} <= names
    assert any(t.get("fill") == "tonexty" for t in curves), "the min-max band over seeds is drawn"


def test_the_curves_follow_the_chosen_series_and_trials(finished_sweep, monkeypatch):
    runs, _ = finished_sweep
    at = page(runs, monkeypatch)
    options = control(at.selectbox, "sweep_curve_series").options
    assert "modes covered" in options and "D loss" in options and "num samples" not in options
    control(at.selectbox, "sweep_curve_series").set_value("Metric/modes_covered").run()
    table = at.dataframe[0].value
    keep = table[(table["loss"] == "hinge") | (table["seed"] == 0)]["trial"].tolist()  # both hinge seeds, one bce
    control(at.multiselect, "sweep_curve_trials").set_value(keep).run()
    assert not at.exception, at.exception
    figures = plotly_specs(at)
    curve = next(f for f in figures if "modes covered" in json.dumps(f["layout"]["title"]))
    names = {t["name"] for t in curve["data"]}
    assert "loss=hinge (2 seeds)" in names and any(n.endswith("(1 seed)") for n in names)


def fake_live_sweep() -> SweepInfo:
    spec = SweepSpec(base={"dataset": "ring8", "steps": 60}, grid={"lr_d": [1e-4, 1e-3]}, seeds=[0])
    trials = [TrialInfo("aaa", {"lr_d": 1e-4}, 0, "00001-ring8-mlp-bce", "", "running", 30, 60),
              TrialInfo("bbb", {"lr_d": 1e-3}, 0, "", "", "pending", 0, 60)]
    return SweepInfo("ring8-live", spec, "running", 0.0, trials)


def test_a_live_sweep_shows_each_trials_state_and_step(monkeypatch, tmp_path):
    info = fake_live_sweep()
    monkeypatch.setattr(sweeps_ui, "list_sweeps", lambda runs_dir: [info])
    monkeypatch.setattr(sweeps_ui, "load_sweep", lambda runs_dir, sweep_id: info)
    at = page(tmp_path / "runs", monkeypatch)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["state"]) == ["running", "pending"] and list(table["step"]) == [30, 0]
    assert list(table["progress"]) == [0.5, 0.0] and list(table["lr_d"]) == [1e-4, 1e-3]
    assert "1 running · 1 pending" in " ".join(c.value for c in at.caption)
    assert any("appears when trials report their metrics" in i.value for i in at.info)


def test_trials_that_start_join_the_curves_until_the_person_picks(monkeypatch, tmp_path):
    """The curves' trial choice follows a live sweep as its trials start; once the person picks, it stays theirs."""
    from ganlab.store import Run

    paths = {}
    for key, loss in (("aaa", 0.7), ("bbb", 0.5)):
        paths[key] = tmp_path / key
        paths[key].mkdir()
        for step in (10, 20):
            Run(paths[key]).append_stats({"step": step, "Loss/D": loss})
    spec = SweepSpec(base={"dataset": "ring8", "steps": 60}, grid={"loss": ["bce", "hinge"]}, seeds=[0])
    state = {"started": ["aaa"]}

    def fake_load(runs_dir, sweep_id):
        trials = [TrialInfo(k, {"loss": loss}, 0, f"run-{k}" if k in state["started"] else "",
                            str(paths[k]) if k in state["started"] else "", "running" if k in state["started"] else "pending",
                            20 if k in state["started"] else 0, 60)
                  for k, loss in (("aaa", "bce"), ("bbb", "hinge"))]
        return SweepInfo("ring8-live", spec, "running", 0.0, trials)

    monkeypatch.setattr(sweeps_ui, "list_sweeps", lambda runs_dir: [fake_load(runs_dir, "ring8-live")])
    monkeypatch.setattr(sweeps_ui, "load_sweep", fake_load)
    at = page(tmp_path / "runs", monkeypatch)
    assert control(at.multiselect, "sweep_curve_trials").value == ["aaa"]
    state["started"].append("bbb")
    at.run()
    assert control(at.multiselect, "sweep_curve_trials").value == ["aaa", "bbb"], "a trial that started joined the curves"
    assert "loss=hinge (1 seed)" in " ".join(t["name"] for f in plotly_specs(at) for t in f["data"])
    control(at.multiselect, "sweep_curve_trials").set_value(["bbb"]).run()
    at.run()
    assert control(at.multiselect, "sweep_curve_trials").value == ["bbb"], "the person's pick stays"


@pytest.mark.parametrize("rates, said", [
    ((0.5, 0.9, 0.7), "Best by high-quality rate (higher is better): **loss=hinge**, seed 0, 0.9 at step 60 (run-b)."),
    ((0.9, 0.9, 0.7), "**loss=bce**, seed 0, 0.9 at step 60 (run-a) (and 1 more at the same value)."),
    ((0.0, 0.0, 0.0), "No best by high-quality rate yet: all 3 scored trials have 0."),
])
def test_the_best_trial_caption_says_a_tie_instead_of_crowning_the_first(monkeypatch, tmp_path, rates, said):
    spec = SweepSpec(base={"dataset": "ring8", "steps": 60}, grid={"loss": ["bce", "hinge", "lsgan"]}, seeds=[0])
    trials = [TrialInfo(k, {"loss": loss}, 0, f"run-{k}", "", "finished", 60, 60, {"high_quality_rate": rate})
              for k, loss, rate in zip("abc", ("bce", "hinge", "lsgan"), rates)]
    info = SweepInfo("ring8-done", spec, "finished", 0.0, trials)
    monkeypatch.setattr(sweeps_ui, "list_sweeps", lambda runs_dir: [info])
    monkeypatch.setattr(sweeps_ui, "load_sweep", lambda runs_dir, sweep_id: info)
    at = page(tmp_path / "runs", monkeypatch)
    assert not at.exception, at.exception
    assert said in " ".join(c.value for c in at.caption)


class FakeDriver:
    def poll(self):
        return None


def test_start_builds_the_spec_and_launches_a_detached_driver(monkeypatch, tmp_path):
    launched = []

    def fake_launch(spec, runs_dir):
        launched.append(spec)
        return SweepDir.for_spec(runs_dir, spec).id, FakeDriver()

    monkeypatch.setattr(sweeps_ui, "launch", fake_launch)
    at = page(tmp_path / "runs", monkeypatch)
    at.number_input(key="sweep_steps").set_value(80)
    at.multiselect(key="sweep_fields").set_value(["loss", "d_steps"]).run()
    at.text_input(key="sweep_values_loss").set_value("bce, hinge")
    at.text_input(key="sweep_values_d_steps").set_value("1,2")
    at.text_input(key="sweep_seeds").set_value("0-2")
    at.toggle(key="sweep_early").set_value(True).run()
    at.button(key="sweep_start").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    (spec,) = launched
    assert spec.grid == {"loss": ["bce", "hinge"], "d_steps": [1, 2]} and spec.seeds == [0, 1, 2]
    assert spec.base["preset"] == "ring8" and spec.base["steps"] == 80 and spec.base["eval_every"] > 0
    assert (spec.scheduler, spec.metric, spec.mode) == ("asha", "high_quality_rate", "max")
    assert any("12 trials" in s.value for s in at.success)
    assert at.selectbox(key="sweep_picker").value == spec.sweep_id()


def test_a_dataset_base_gets_the_recipe_train_gives_it(monkeypatch, tmp_path):
    """Start from a dataset: the trials share what `ganlab train --dataset ring8` trains (its recipe), not a preset."""
    launched = []
    monkeypatch.setattr(sweeps_ui, "launch", lambda spec, runs_dir: (launched.append(spec), ("s", FakeDriver()))[1])
    at = page(tmp_path / "runs", monkeypatch)
    at.radio(key="sweep_base_kind").set_value("dataset").run()
    at.selectbox(key="sweep_dataset").set_value("ring8").run()
    assert "Recipe points applies" in " ".join(c.value for c in at.caption)
    at.text_input(key="sweep_values_loss").set_value("bce, hinge")
    at.button(key="sweep_start").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    (spec,) = launched
    assert spec.base["recipe"] == "points" and spec.base["preset"] == "" and spec.base["dataset"] == "ring8"
    assert [t.config.recipe for t in spec.trials()] == ["points", "points"]


def test_a_sweep_whose_driver_died_offers_to_run_the_missing_trials(monkeypatch, tmp_path):
    """A driver that died (killed, or failed at start) leaves trials to do: its output is shown and one click starts
    the same sweep again, which trains only what is missing."""
    runs = tmp_path / "runs"
    spec = SweepSpec(base={"dataset": "ring8", "steps": 60}, grid={"loss": ["bce", "hinge"]}, seeds=[0])
    sweep = SweepDir.for_spec(runs, spec)
    sweep.file("driver.log").write_text("Traceback (most recent call last):\nRuntimeError: Ray could not start\n")
    sweep.write_driver("failed", error="Ray could not start: see driver.log")
    launched = []
    monkeypatch.setattr(sweeps_ui, "launch", lambda spec, runs_dir: (launched.append(spec), (sweep.id, FakeDriver()))[1])
    at = page(runs, monkeypatch)
    assert not at.exception
    assert "RuntimeError: Ray could not start" in at.code[0].value
    assert "Sweep failed: Ray could not start" in at.error[0].value.replace("\\", "")
    at.button(key="sweep_rerun").click().run()
    assert [s.sweep_id() for s in launched] == [sweep.id]
    assert any("2 trials to go" in s.value for s in at.success)
    assert not [b for b in at.button if b.key == "sweep_rerun"], "a live driver is not offered again"


def test_starting_a_sweep_that_runs_already_says_so(monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    spec = SweepSpec(base={**PRESETS.get("ring8").values, "steps": 200, "eval_every": 50}, grid={"loss": ["bce"]},
                     seeds=[0])
    SweepDir.for_spec(runs, spec).write_driver("running")  # this process plays its driver: alive
    monkeypatch.setattr(sweeps_ui, "launch", lambda *a: pytest.fail("a second driver must not start"))
    at = page(runs, monkeypatch)
    at.text_input(key="sweep_values_loss").set_value("bce")
    at.button(key="sweep_start").click().run()
    assert not at.exception
    assert "is already running" in at.error[0].value.replace("\\", "")


def test_a_finished_sweep_offers_no_rerun(finished_sweep, monkeypatch):
    at = page(finished_sweep[0], monkeypatch)
    assert not [b for b in at.button if b.key == "sweep_rerun"]


@pytest.mark.parametrize("field, values, seeds, message", [
    ("loss", "bce, nope", "0", "loss: 'nope' is not one of"),
    ("lr_d", "1e-3, fast", "0", "lr_d: expected a number"),
    ("d_steps", "1, 0", "0", "d_steps: 0 is out of range"),
    ("loss", "bce, bce", "0", "listed twice"),
    ("loss", " , ", "0", "type at least one value"),
    ("loss", "bce, hinge", "zero", "seeds: 'zero' is not a whole number"),
    ("loss", "bce", "-1", "seeds: '-1' is not a whole number from 0"),
    ("loss", "bce", "0,1,0", "seeds: seed 0 is listed twice"),
    ("loss", "bce", "4-0", "seeds: the range 4-0 runs backwards"),  # was: no seeds from it, said as none at all
    ("loss", "bce", "0-999999999", "seeds: '0-999999999' is too many seeds"),  # was: a billion-long list built
])
def test_bad_input_is_a_message_and_starts_nothing(monkeypatch, tmp_path, field, values, seeds, message):
    monkeypatch.setattr(sweeps_ui, "launch", lambda *a: pytest.fail("a bad sweep must not start"))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("no process for a bad sweep"))
    at = page(tmp_path / "runs", monkeypatch)
    at.multiselect(key="sweep_fields").set_value([field]).run()
    at.text_input(key=f"sweep_values_{field}").set_value(values)
    at.text_input(key="sweep_seeds").set_value(seeds)
    at.button(key="sweep_start").click().run()
    assert not at.exception, at.exception
    errors = [e.value.replace("\\", "") for e in at.error]  # the Markdown escapes of literal(): shown as typed
    assert len(errors) == 1 and errors[0].startswith("Cannot start the sweep:") and message in errors[0], errors
    assert not list_sweeps(tmp_path / "runs")


def test_no_field_to_vary_is_a_message(monkeypatch, tmp_path):
    at = page(tmp_path / "runs", monkeypatch)
    at.multiselect(key="sweep_fields").set_value([]).run()
    at.button(key="sweep_start").click().run()
    assert not at.exception
    assert "pick at least one field to vary" in at.error[0].value


# the page parses with the CLI's functions (ganlab.sweeps.spec): each value box and the Seeds box read as
# --grid FIELD=... and --seeds do, and say the same, named by the box instead of the flag
@pytest.mark.parametrize("field, text", [
    ("loss", "bce, nope"), ("optimizer", "adam, fast"), ("loss", "bce, bce"), ("lr_d", "1e-3, 0.001"),
    ("lr_d", "1e-3, fast"), ("loss", " , "), ("g_hidden", " ; "), ("seed", "1, 2"), ("preset", "ring8"),
    ("nonsense", "1"),
])
def test_the_value_boxes_refuse_what_grid_refuses(field, text):
    with pytest.raises(ConfigError) as page_error:
        sweeps_ui.parse_values(field, text)
    with pytest.raises(ConfigError) as cli_error:
        parse_grid([f"{field}={text}"])
    page, cli = str(page_error.value), str(cli_error.value)
    assert not page.startswith("--"), page
    assert cli in (f"--grid {page}", f"--grid: {page}", page), (page, cli)  # coerce's own errors name no flag


@pytest.mark.parametrize("text", ["zero", "-1", "0,1,0", "0-4,2", "4-0", f"0-{MAX_TRIALS}", "9" * 30, "", " , "])
def test_the_seeds_box_refuses_what_seeds_refuses(text):
    with pytest.raises(ConfigError) as page_error:
        sweeps_ui.parse_seeds(text)
    with pytest.raises(ConfigError) as cli_error:
        cli_parse_seeds(text)
    page, cli = str(page_error.value), str(cli_error.value)
    assert page.startswith("seeds: ") and cli == "--" + page, (page, cli)


@pytest.mark.parametrize("field, text", [("loss", "hinge, bce"), ("dataset", "ring:5, ring8"),
                                         ("g_hidden", "64,64; 128"), ("lr_d", "1e-4, 1e-3"), ("optimizer", "sgd")])
def test_the_value_boxes_read_what_grid_reads(field, text):
    assert sweeps_ui.parse_values(field, text) == parse_grid([f"{field}={text}"])[field]


def test_the_seeds_box_reads_what_seeds_reads():
    for text in ("0", "0-2,5", " 3 - 4 , 7,", f"0-{MAX_TRIALS - 1}"):
        assert sweeps_ui.parse_seeds(text) == cli_parse_seeds(text)
    assert sweeps_ui.parse_seeds("0 - 2, 5") == [0, 1, 2, 5]
