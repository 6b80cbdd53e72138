"""In a real headless Chromium: start a small sweep from the Sweeps page (ring8, loss = bce, hinge, one seed,
60 steps; a detached `python -m ganlab sweep` on Ray's local cluster), watch the table follow it to the end
without a reload, and see the parallel-coordinates chart and the curves drawn.

Saves sweeps-start.png, sweeps-table.png, sweeps-parcoords.png and sweeps-curves.png under $GANLAB_SCREENSHOTS.
"""

from __future__ import annotations

import re

import pytest

from ganlab.sweeps import list_sweeps
from tests.helpers.server import SHOTS, chromium_page, serve, settle

pytestmark = pytest.mark.browser

WAIT_MS = 150_000  # Ray's start-up on two busy cores takes seconds; the four trials train in seconds more
FINISHED = re.compile(r"is finished · 2 finished")


def test_start_a_sweep_and_compare_its_trials(tmp_path):
    runs = tmp_path / "runs"
    with (serve(runs, tmp_path / "data", log_path=tmp_path / "server.log") as url,
          chromium_page({"width": 1440, "height": 1100}, failure_png=SHOTS / "sweeps-failure.png") as page):
        page.goto(url + "/sweeps")
        page.get_by_text("Start from", exact=True).wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        steps = page.get_by_role("spinbutton", name="Steps per trial")
        steps.fill("60")
        steps.press("Enter")
        settle(page, WAIT_MS)
        values = page.get_by_role("textbox", name="loss values")
        values.fill("bce, hinge")
        values.press("Enter")
        settle(page, WAIT_MS)
        page.screenshot(path=str(SHOTS / "sweeps-start.png"))
        page.get_by_role("button", name=re.compile("Start sweep")).click()
        page.get_by_text(re.compile(r"Started sweep .*: 2 trials")).wait_for(timeout=WAIT_MS)
        page.get_by_text(FINISHED).first.wait_for(timeout=WAIT_MS)  # polled: no reload
        settle(page, WAIT_MS)
        assert not page.locator('[data-testid="stException"]').count(), "the Sweeps page raised"
        (sweep,) = list_sweeps(runs)
        assert sweep.state == "finished" and [t.state for t in sweep.trials] == ["finished", "finished"]
        assert sorted(t.params["loss"] for t in sweep.trials) == ["bce", "hinge"]
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for(timeout=WAIT_MS)
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "sweeps-table.png"))
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has=page.locator("g.parcoords")).first
        chart.wait_for(timeout=WAIT_MS)
        assert chart.locator("g.parcoords g.y-axis").count() >= 3, "one axis for loss and one per metric"
        assert chart.get_by_text("hinge").count() and chart.get_by_text("bce").count(), "loss's categories label the axis"
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        chart.screenshot(path=str(SHOTS / "sweeps-parcoords.png"))
        curves = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="by params").first
        curves.scroll_into_view_if_needed()
        curves.get_by_text("loss=hinge (1 seed)").wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(500)
        curves.screenshot(path=str(SHOTS / "sweeps-curves.png"))
