"""End to end in a real headless Chromium: start a 2-D run from Train, watch it, pause it, open Latent.

Saves {train,monitor,latent-ring8,runs}.png under $GANLAB_SCREENSHOTS (default artifacts/screenshots).
"""

from __future__ import annotations

import re

import pytest

from ganlab.config.presets import PRESETS
from tests.helpers.server import SHOTS, chromium_page, serve, start_from_train_page

pytestmark = pytest.mark.browser

WAIT_MS = 180_000  # generous: CI's 2 cores are shared with the trainer and the browser


@pytest.fixture
def browser_page():
    with chromium_page() as page:
        yield page


def shot(page, name: str, height: int) -> None:
    """A screenshot of the whole app (Streamlit scrolls inside its own container, so size the viewport)."""
    page.set_viewport_size({"width": 1440, "height": height})
    page.wait_for_timeout(1500)  # let charts re-layout to the new size
    page.screenshot(path=str(SHOTS / name))


def progress_text(page) -> str:
    return page.locator('[data-testid="stProgress"]').first.inner_text(timeout=WAIT_MS)


def test_train_watch_pause_and_open_latent(browser_page, tmp_path):
    """The main flow through the real app, as a person clicks it."""
    page = browser_page
    with serve(tmp_path / "runs", tmp_path / "data", log_path=tmp_path / "server.log") as url:
        start_from_train_page(page, url, preset="ring8", steps=3000, timeout_ms=WAIT_MS,
                              before_start=lambda pg: shot(pg, "train.png", 1050))

        # Monitor: the loss chart has data and its labelled equilibrium line (ring8's recipe plays LSGAN: 0.25)
        page.get_by_text(re.compile(r"0\.25: D outputs 0\.5")).first.wait_for(timeout=WAIT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .scatterlayer .trace path.js-line')]"
            ".some(p => (p.getAttribute('d') || '').split(/[LM]/).length > 3)", timeout=WAIT_MS)
        page.get_by_text(re.compile(r"The game at step [\d,]+")).first.wait_for(timeout=WAIT_MS)  # the 2-D game view
        assert re.search(r"running · step [\d,]+ / 3,000", progress_text(page)), progress_text(page)
        for _ in range(60):  # a nicer picture once the game is under way (bounded: CI can be slow)
            if int(re.search(r"step ([\d,]+)", progress_text(page)).group(1).replace(",", "")) >= 1000:
                break
            page.wait_for_timeout(1000)
        page.wait_for_timeout(4000)  # the next curve and sample refresh
        shot(page, "monitor.png", 1800)
        page.set_viewport_size({"width": 1440, "height": 1000})

        # pause: the state changes, and the step stops moving
        page.get_by_role("button", name=re.compile("Pause")).click()
        page.get_by_text(re.compile(r"paused · step")).wait_for(timeout=WAIT_MS)
        paused_at = progress_text(page)
        page.wait_for_timeout(2500)
        assert progress_text(page) == paused_at, "a paused run keeps training"
        page.get_by_role("button", name=re.compile("Resume")).wait_for(timeout=WAIT_MS)

        # Latent opens for the same run (the sidebar picker's choice is shared by the pages)
        page.get_by_role("link", name="Latent space").click()
        page.wait_for_url(re.compile(r"/latent"), timeout=WAIT_MS)
        page.wait_for_timeout(4000)
        assert not page.locator('[data-testid="stException"]').count(), "Latent page raised"
        shot(page, "latent-ring8.png", 1150)  # latent.png is the image run of tests/test_browser_data.py

        page.get_by_role("link", name="Runs").click()
        page.wait_for_url(re.compile(r"/runs"), timeout=WAIT_MS)
        page.get_by_text("Open in Monitor").wait_for(timeout=WAIT_MS)
        assert f"00000-ring8-mlp-{PRESETS.get('ring8').values['loss']} · paused" in page.content()  # the run, in its state
        assert not page.locator('[data-testid="stException"]').count(), "Runs page raised"
        shot(page, "runs.png", 800)
