"""Real headless Chromium on Monitor (issue #22): a live lr / k change shows on the lr-and-k chart and as a line
on the loss chart, and a run stopped after its first ticks shows its points. Saves monitor-lr-k.png and
monitor-early-stop.png under $GANLAB_SCREENSHOTS (default artifacts/screenshots)."""

from __future__ import annotations

import re

import pytest

from ganlab.config import RunConfig
from ganlab.session import RunSession
from tests.helpers.server import SHOTS, chromium_page, serve, settle, start_from_train_page

pytestmark = pytest.mark.browser
WAIT_MS = 120_000  # 2 shared CPU cores run the server, the trainer and Chromium
_PLOT = "(title) => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.textContent.includes(title) && "
HAS_LINE = _PLOT + ("[...p.querySelectorAll('.scatterlayer .trace path.js-line')]"
                    ".some(l => (l.getAttribute('d') || '').split(/[LM]/).length > 3))")
HAS_MARKERS = _PLOT + "p.querySelectorAll('.scatterlayer .trace .points path').length > 0)"
HAS_CHANGE_LINE = _PLOT + "p.querySelectorAll('.shapelayer path').length > 0)"  # a live change's dotted line


def shoot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so make the window as tall as the page."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": 1440, "height": min(max(int(height) + 40, 900), 3200)})
    page.wait_for_timeout(1500)  # the charts re-layout to the new width
    page.screenshot(path=str(SHOTS / name))
    page.set_viewport_size({"width": 1440, "height": 1000})


def progress_text(page) -> str:
    return page.locator('[data-testid="stProgress"]').first.inner_text(timeout=WAIT_MS)


@pytest.fixture
def page():
    with chromium_page() as page:
        yield page


def test_live_change_is_marked_and_an_early_stop_shows_its_points(page, tmp_path):
    try:
        _flow(page, tmp_path)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))  # kept under pytest's basetemp
        raise


def _flow(page, tmp_path) -> None:
    runs, data = tmp_path / "runs", tmp_path / "data"
    with serve(runs, data, log_path=tmp_path / "server.log") as url:
        start_from_train_page(page, url, preset="ring8", steps=4000, timeout_ms=WAIT_MS)
        page.wait_for_function(HAS_LINE, arg="Losses", timeout=WAIT_MS)

        # lr_d 1e-3 -> 4e-4 and k 1 -> 2 while it trains
        page.get_by_role("button", name=re.compile(r"Change lr \S k")).click()
        lr = page.get_by_role("spinbutton", name="D learning rate")
        lr.fill("4e-4")
        page.get_by_role("spinbutton", name=re.compile("^k: D steps")).fill("2")
        page.get_by_role("button", name="Apply").click()
        page.get_by_text("Applied before the next step").wait_for(timeout=WAIT_MS)
        page.keyboard.press("Escape")  # close the popover
        page.get_by_text(re.compile(r"k = 2 · lr D 0\.0004")).wait_for(timeout=WAIT_MS)  # the header, at once
        page.wait_for_function(HAS_CHANGE_LINE, arg="Learning rates and k", timeout=WAIT_MS)  # the next tick has it
        page.wait_for_timeout(5500)  # one more chart refresh: a few points after the change
        page.wait_for_function(HAS_CHANGE_LINE, arg="Losses", timeout=WAIT_MS)  # the same line on the loss chart
        assert not page.locator('[data-testid="stException"]').count(), "Monitor raised"
        shoot(page, "monitor-lr-k.png")
        page.get_by_role("button", name=re.compile("Stop")).click()
        page.get_by_text(re.compile(r"stopped · step")).first.wait_for(timeout=WAIT_MS)

        # a run stopped after two ticks (50 and 100), made beside the server as the CLI would
        session = RunSession.new(RunConfig(dataset="ring8", steps=4000, log_every=50, g_hidden=(64, 64),
                                           d_hidden=(64, 64)), runs, data_root=data)
        assert session.run_training(should_stop=lambda: session.trainer.step >= 120).state == "stopped"
        page.reload()
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Run").first.click()
        page.get_by_role("option", name=re.compile(re.escape(session.run.id))).first.click()
        page.get_by_role("heading", name=session.run.id).wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        page.wait_for_function(HAS_MARKERS, arg="Losses", timeout=WAIT_MS)  # two ticks: two points, each a marker
        assert re.search(r"stopped · step 120 / 4,000", progress_text(page)), progress_text(page)
        assert not page.locator('[data-testid="stException"]').count(), "Monitor raised"
        shoot(page, "monitor-early-stop.png")
