"""Real headless Chromium: draw 2-D data on the Data page (clicks spray blobs, a lasso stroke draws a ring, a box
fills a rectangle), save it as `drawn-ring`, then train 100 steps on it from the CLI. Saves data_draw.png."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganlab.config.recipes_points import POINTS
from tests.helpers.server import SHOTS, chromium_page, serve, settle

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120_000  # ms: 2 shared CPU cores run the server and Chromium
SQUARE = (-3.0, 3.0)


def _drawn(page) -> int:
    text = page.locator('[data-testid="stMetric"]').filter(has_text="Points drawn").inner_text()
    return int(re.search(r"Points drawn\s*([\d,]+)", text).group(1).replace(",", ""))


def _wait_drawn(page, more_than: int) -> int:
    page.wait_for_function(
        """n => { const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                     .find(e => e.innerText.includes('Points drawn'));
                   return m && parseInt(m.innerText.replace(/[^0-9]/g, '')) > n; }""", arg=more_than)
    settle(page, TIMEOUT)
    return _drawn(page)


def _to_px(page, x: float, y: float) -> tuple[float, float]:
    """Screen position of data point (x, y) on the drawing chart (its drag layer spans the square exactly)."""
    box = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first.bounding_box()
    lo, hi = SQUARE
    return box["x"] + (x - lo) / (hi - lo) * box["width"], box["y"] + (hi - y) / (hi - lo) * box["height"]


def _drag(page, path: list[tuple[float, float]]) -> None:
    page.mouse.move(*_to_px(page, *path[0]))
    page.mouse.down()
    for p in path[1:]:
        page.mouse.move(*_to_px(page, *p), steps=2)
    page.mouse.up()


def test_draw_save_and_train_on_it(tmp_path):
    data_dir = tmp_path / "data"
    with serve(tmp_path / "runs", data_dir, log_path=tmp_path / "streamlit.log") as url, \
            chromium_page({"width": 1400, "height": 1000}, failure_png=tmp_path / "failure.png") as page:
        page.set_default_timeout(TIMEOUT)
        page.goto(url + "/")
        page.get_by_text("Train a GAN").wait_for()
        page.get_by_role("link", name="Data").click()
        page.get_by_text("Draw your own 2-D data").wait_for()
        page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
        settle(page, TIMEOUT)
        n = 0
        for x, y in ((2.0, 0.0), (0.0, 2.0), (-2.0, 0.0), (0.0, -2.0)):  # four blobs: clicks on the square
            page.mouse.click(*_to_px(page, x, y))
            n = _wait_drawn(page, n)
        assert n == 4 * 40
        ring = [(1.2 * math.cos(t), 1.2 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 40)]
        page.get_by_text("drag: a stroke").click()
        settle(page, TIMEOUT)
        _drag(page, ring)  # the lasso brushes points along the stroke
        n = _wait_drawn(page, n)
        assert n == 5 * 40
        page.get_by_text("drag: a filled box").click()
        settle(page, TIMEOUT)
        _drag(page, [(-2.8, 2.8), (-2.4, 2.5), (-2.0, 2.2)])
        n = _wait_drawn(page, n)
        assert n == 6 * 40
        name = page.get_by_role("textbox", name="Name of the point set").first
        name.fill("drawn-ring")
        name.press("Enter")
        settle(page, TIMEOUT)
        page.get_by_role("button", name=re.compile("Save as a dataset")).first.click()
        page.get_by_text("python -m ganlab train --dataset points:drawn-ring.npy").wait_for()
        page.get_by_role("button", name=re.compile("Train on it")).wait_for()
        settle(page, TIMEOUT)
        page.set_viewport_size({"width": 1400, "height": 1150})
        page.get_by_text("Draw your own 2-D data").scroll_into_view_if_needed()
        page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollBy(0, -16)")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "data_draw.png"))
    saved = np.load(data_dir / "points" / "drawn-ring.npy")
    assert saved.shape == (240, 2) and saved.dtype == np.float32
    r = np.linalg.norm(saved, axis=1)
    assert ((r > 1.0) & (r < 1.4)).sum() >= 40  # the stroke's ring
    assert ((saved[:, 0] < -1.9) & (saved[:, 1] > 2.1)).sum() >= 40  # the box in the corner
    p = subprocess.run([sys.executable, "-m", "ganlab", "train", "--dataset", "points:drawn-ring.npy", "--steps", "100",
                        "--runs-dir", str(tmp_path / "cli-runs"), "--data-root", str(data_dir), "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"drawn-ring-mlp-{POINTS['loss']} finished: step 100/100" in p.stdout  # the point recipe trained it
