"""ganlab.viz.charts: every series the engine writes has a chart or a stated reason, and Monitor draws every chart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.evaluation import distances, metrics
from ganlab.evaluation.classifier import ClassifierBundle, SmallCNN
from ganlab.evaluation.evaluate import METRIC_FAMILIES, scalar_metrics
from ganlab.evaluation.prdc import prdc
from ganlab.registry import Registry
from ganlab.session import RunSession
from ganlab.training.trainer import STEP_COLUMNS
from ganlab.ui.manager import get_manager
from ganlab.viz import charts, curves
from ganlab.viz.series import count_values
from ganlab.viz.style import SERIES
from tests.helpers.app import fresh_manager  # noqa: F401 - autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(batch_size=16, g_hidden=(8,), d_hidden=(8,), log_every=10, snapshot_every=20, checkpoint_every=20)


def _family_metrics() -> dict[str, dict]:
    """Each metric family's metrics on tiny inputs where every optional value is defined (no None)."""
    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    near = np.repeat(centres, 3, axis=0) + 0.01 * np.random.default_rng(0).standard_normal((9, 2))
    rng = np.random.default_rng(1)
    arch = dict(in_shape=(1, 8, 8), num_classes=3, width=4, feature_dim=8)
    torch.manual_seed(0)
    bundle = ClassifierBundle(SmallCNN(**arch), arch, accuracy=0.9, device=torch.device("cpu"))
    real = rng.uniform(-1, 1, (12, 1, 8, 8))
    return {
        "mixture": metrics.mixture_metrics(near, centres, std=0.05),
        "gaussian": metrics.gaussian_fit_metrics(rng.standard_normal((50, 2)), [0.0, 0.0], np.eye(2)),
        "pattern": metrics.pattern1010_metrics(np.tile([0.9, 0.1, 0.9, 0.1], (4, 1))),
        "classifier": {**metrics.image_metrics(rng.uniform(-1, 1, (6, 1, 8, 8)), real, np.arange(12) % 3, 3, bundle),
                       **prdc(rng.standard_normal((20, 4)), rng.standard_normal((20, 4)))},
        "points": distances.distribution_metrics(rng.standard_normal((40, 2)), rng.standard_normal((40, 2)),
                                                 rng.standard_normal((40, 2))),
    }


def _metric_keys() -> set[str]:
    fams = _family_metrics()
    assert set(fams) == set(METRIC_FAMILIES.names()), "a new metric family: add it to _family_metrics"
    for name, m in fams.items():
        assert all(v is not None for v in m.values()), (name, m)  # else a key could hide behind a None
    return set().union(*(scalar_metrics(m) for m in fams.values()))


@pytest.fixture(scope="module")
def run_keys(tmp_path_factory) -> set[str]:
    """Every key of a real run's tick records: a critic loss with GP, R1 on top, and metrics on ring8."""
    root = tmp_path_factory.mktemp("charts")
    cfg = RunConfig(dataset="ring8", loss="wgan-gp", r1_weight=0.1, steps=20, eval_every=10, device="cpu", **TINY)
    session = RunSession.new(cfg, root / "runs", data_root=root / "data")
    assert session.run_training().state == "finished"
    return set().union(*(r.keys() for r in session.run.history()))


def _unplaced(keys, registry=None) -> set[str]:
    return set(keys) - set(charts.drawn_keys(registry)) - set(charts.NOT_CHARTED)


def test_every_engine_series_has_a_chart_or_a_reason(run_keys):
    """Tick records (a real run) and every scalar any metric family reports: each key is drawn or excused."""
    engine = {*STEP_COLUMNS, "Grad/D", "Grad/G", "W", "Penalty/GP", "Penalty/R1", "LR/D", "LR/G", "k",
              "Speed/steps_per_s"}
    assert engine <= run_keys, engine - run_keys  # the run wrote what the engine is known to write
    keys = run_keys | _metric_keys()
    assert {"Metric/modes_covered", "Metric/fd", "Metric/pattern_match_rate", "Metric/w2_distance"} <= keys
    assert _unplaced(keys) == set()


def test_a_series_with_nowhere_to_go_is_caught(run_keys):
    """The check above can fail: a new key, or a chart taken out of the registry, leaves keys unplaced."""
    assert _unplaced(run_keys | {"Metric/brand_new"}) == {"Metric/brand_new"}
    without_w = [e for e in charts.CHARTS if e.name != "W"]
    assert _unplaced(run_keys, without_w) == {"W"}


def test_registry_and_series_table_agree():
    """Nothing is both drawn and excused; reasons are sentences; every drawn key has a name in the table."""
    drawn = set(charts.drawn_keys())
    assert drawn.isdisjoint(charts.NOT_CHARTED), drawn & set(charts.NOT_CHARTED)
    assert all(len(why) > 20 for why in charts.NOT_CHARTED.values())
    assert drawn <= set(SERIES), drawn - set(SERIES)
    assert {"Metric/modes_total", "Metric/classes_total"} <= drawn  # as the coverage charts' total lines
    assert charts.line_keys()[:4] == ["Loss/D", "Loss/G", "D/real", "D/fake"]  # the overlay's picker, in order
    assert "Metric/modes_total" not in charts.line_keys()


def test_charts_show_when_their_series_has_values_and_build_from_the_input():
    """The three game charts always show; W, penalties and metrics only with data; totals reach the figure."""
    h = [{"step": 10, "Loss/D": 0.7, "Loss/G": 0.7, "D/real": 0.5, "D/fake": 0.5, "Grad/D": 1.0, "Grad/G": 1.0},
         {"step": 20, "Loss/D": 0.6, "Metric/modes_covered": 5, "Metric/modes_total": 8}]
    assert [e.name for e in charts.visible({})] == ["loss", "dout", "grad"]
    shown = charts.visible(count_values(h))
    assert [e.name for e in shown] == ["loss", "dout", "grad", "Metric/modes_covered"]
    modes = shown[-1].obj
    assert modes.section == "quality" and not modes.every_tick and modes.totals == ("Metric/modes_total",)
    fig = modes.build(charts.ChartInput(h, totals={"Metric/modes_total": 8.0}))
    assert isinstance(fig, go.Figure) and "total = 8" in " ".join(a.text for a in fig.layout.annotations)
    eq = {"Loss/D": (0.693, "ln 2")}
    loss = charts.CHARTS.get("loss").build(charts.ChartInput(h, equilibrium=eq, convention="mean", log_y=True))
    assert loss.layout.yaxis.type == "log" and loss.layout.title.subtitle.text == "mean"
    with pytest.raises(ValueError):
        charts.Chart(("W",), lambda c: go.Figure(), section="nowhere")


def test_monitor_draws_every_chart_of_a_bigger_registry(monkeypatch):
    """Four throwaway charts on top of a WGAN-GP + R1 run's: all of them are on the page, in order."""
    manager = get_manager()
    cfg = RunConfig(dataset="ring8", loss="wgan-gp", r1_weight=0.1, steps=40, eval_every=20, **TINY)
    run_id = manager.start(cfg)
    assert manager.wait(run_id, timeout=120) == "finished"
    bigger: Registry[charts.Chart] = Registry("chart")
    for e in charts.CHARTS:
        bigger.add(e.name, e.obj, e.description)
    for key in ("LR/D", "LR/G", "k", "Speed/steps_per_s"):
        bigger.add(f"extra {key}", charts.Chart((key,), lambda c, key=key: curves.series_figure(
            c.history, [key], title=f"extra {key}")), "a throwaway chart")
    monkeypatch.setattr(charts, "CHARTS", bigger)
    history = manager.snapshot(run_id).history
    shown = charts.visible(count_values(history))  # the page: section by section, registry order in each
    expected = [f"chart_{e.name}" for sec in charts.SECTIONS for e in shown if e.obj.section == sec]
    assert {"chart_W", "chart_pen", "chart_Metric/modes_covered", "chart_extra k"} <= set(expected)

    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state["run_id"] = run_id
    at.switch_page("views/monitor.py").run()
    assert not at.exception, at.exception
    on_page = [c.proto.id for c in at.get("plotly_chart")]
    registry_charts = [next(k for k in expected if i.endswith(f"-{k}")) for i in on_page
                       if any(i.endswith(f"-{k}") for k in expected)]
    assert registry_charts == expected  # every one, in order
    others = {"chart_points", "chart_timelapse", "chart_overlay"}  # samples, time-lapse and the overlay
    assert len(on_page) == len(expected) + len(others)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = " ".join(s["layout"]["title"]["text"] for s in specs if "title" in s["layout"])
    assert "extra Speed/steps_per_s" in titles and "Wasserstein estimate" in titles and "Penalties" in titles
