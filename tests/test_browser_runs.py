"""In a real headless Chromium: the Runs table follows a live run without a reload, and the URL names the run.

Saves runs-live.png under $GANLAB_SCREENSHOTS (default artifacts/screenshots; docs/screenshots for the README).
"""

from __future__ import annotations

import re

import pytest

from ganlab.config.presets import PRESETS
from tests.helpers.server import SHOTS, chromium_page, serve, settle, start_from_train_page

pytestmark = pytest.mark.browser

WAIT_MS = 120_000
LIVE = re.compile(rf"(\d{{5}}-ring8-mlp-{PRESETS.get('ring8').values['loss']}) is running · step ([\d,]+) of")


@pytest.fixture
def browser_page():
    with chromium_page({"width": 1920, "height": 720}) as page:  # wide: every column of the table
        yield page


def live_line(page) -> tuple[str, int]:
    text = page.get_by_text(LIVE).first.inner_text(timeout=WAIT_MS)
    run_id, step = LIVE.search(text).groups()
    return run_id, int(step.replace(",", ""))


def test_runs_table_follows_a_live_run(browser_page, tmp_path):
    page = browser_page
    with serve(tmp_path / "runs", tmp_path / "data", log_path=tmp_path / "server.log") as url:
        start_from_train_page(page, url, preset="ring8", steps=1_000_000, timeout_ms=WAIT_MS)
        page.get_by_role("link", name="Runs").click()
        page.wait_for_url(re.compile(r"/runs"), timeout=WAIT_MS)
        page.get_by_text(LIVE).first.wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        run_id, first = live_line(page)
        assert f"run={run_id}" in page.url, "the tab's run is in the URL, so a reload reopens it"
        table = page.locator('[data-testid="stDataFrame"]').first
        before = table.screenshot()
        second = first
        for _ in range(30):  # the table refreshes every 2 s without a reload; a busy CI box ticks slowly
            page.wait_for_timeout(1000)
            _, second = live_line(page)
            if second > first:
                break
        assert second > first, f"the Runs table's step stayed at {first:,} while the run trained"
        redrawn = False
        for _ in range(20):  # the grid's canvas paints after the caption above it: on a busy box, seconds later
            page.wait_for_timeout(500)
            if table.screenshot() != before:
                redrawn = True
                break
        assert redrawn, "the table itself was redrawn with the new step"
        assert not page.locator('[data-testid="stException"]').count(), "Runs page raised"
        page.screenshot(path=str(SHOTS / "runs-live.png"))
