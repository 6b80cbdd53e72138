"""Monitor's "reached at" marks: each quality threshold's first eval that met it is a labelled line on the metric
charts, and a run that stopped at its stop_at says so on the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.config import thresholds as th
from ganlab.session import RunSession
from ganlab.ui.manager import get_manager
from ganlab.viz import charts, curves
from tests.helpers.app import fresh_manager  # noqa: F401 - autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")

HISTORY = [  # tick records: losses on every tick, metrics on the eval ticks
    {"step": 100, "time": 1.0, "Loss/D": 0.7},
    {"step": 200, "time": 2.0, "Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.5},
    {"step": 300, "time": 3.0, "Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.96},
    {"step": 400, "time": 4.0, "Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.98},
]


def _marks(fig: dict) -> tuple[list, list]:
    layout = fig["layout"]
    lines = [s["x0"] for s in layout.get("shapes", []) if s["line"]["color"] == "#0f766e"]
    notes = [(a["x"], a["text"]) for a in layout.get("annotations", []) if a["text"].startswith("✓")]
    return lines, notes


def test_marks_are_the_first_step_each_threshold_was_met():
    marks = charts.reached_marks(HISTORY)
    assert [(m.step, m.name, m.seconds) for m in marks] == [(200, "modes", 2.0), (300, "hq90", 3.0),
                                                            (300, "hq95", 3.0), (400, "hq97", 4.0)]
    fig = curves.metric_figure(HISTORY, "Metric/high_quality_rate", reached=marks).to_plotly_json()
    lines, notes = _marks(fig)
    assert lines == [200, 300, 400]  # thresholds met at one eval share a line
    assert notes == [(200, "✓ modes"), (300, "✓ hq90 · hq95"), (400, "✓ hq97")]
    hover = next(a["hovertext"] for a in fig["layout"]["annotations"] if a["x"] == 300)
    assert "every mode, 95% high quality: first met at step 300 after 3 s" in hover
    assert _marks(curves.metric_figure(HISTORY, "Metric/high_quality_rate").to_plotly_json()) == ([], [])
    assert _marks(curves.metric_figure([], "Metric/high_quality_rate", reached=marks).to_plotly_json()) == ([], [])


def test_the_metric_chart_in_the_registry_draws_them():
    inp = charts.ChartInput(HISTORY, reached=charts.reached_marks(HISTORY))
    fig = charts.CHARTS.get("Metric/modes_covered").build(inp).to_plotly_json()
    assert _marks(fig)[0] == [200, 300, 400]
    assert _marks(charts.CHARTS.get("loss").build(inp).to_plotly_json()) == ([], [])  # not on the training curves


@pytest.fixture
def early_run(monkeypatch):
    """A real tiny run with metric rows, stopped by a loose test threshold at its second eval."""
    loose = th.Threshold("loose", "any eval from step 20", lambda r: r.get("step", 0) >= 20 and "Metric/modes_total" in r,
                         lambda r: f"{r['Metric/modes_covered']:.0f}/{r['Metric/modes_total']:.0f} modes")
    monkeypatch.setitem(th.THRESHOLDS, "mixture", (*th.THRESHOLDS["mixture"], loose))
    manager = get_manager()
    cfg = RunConfig(dataset="ring8", steps=200, batch_size=32, g_hidden=(8,), d_hidden=(8,), log_every=10, eval_every=10,
                    snapshot_every=10, checkpoint_every=1000, stop_at="loose", device="cpu")
    session = RunSession.new(cfg, manager.runs_dir, data_root=manager.data_root)
    assert session.run_training().state == "finished"
    return session.run


def test_monitor_marks_the_step_and_says_why_the_run_stopped(early_run):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state["run_id"] = early_run.id
    at.switch_page("views/monitor.py").run()
    assert not at.exception, at.exception
    figs = {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    lines, notes = _marks(figs["chart_Metric/modes_covered"])
    assert 20 in lines and any(x == 20 and "loose" in text for x, text in notes), notes
    said = [s.value for s in at.success]
    assert any(s.startswith("Stopped early: ") and s.endswith("at step 20") for s in said), said
