"""Real headless Chromium walks the Latent page's research tools (issue #18) on trained runs: directions and
fidelity vs diversity on a digits run, projection (kept as p1, then used as a seed) and nearest neighbours on
a conditional digits run, direction paths on a ring8 run. Saves latent_{directions,truncation,projection,
neighbours,points_directions}.png under $GANLAB_SCREENSHOTS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ganlab.config import RunConfig
from ganlab.store import Run
from ganlab.training import train
from tests.helpers.server import SHOTS, chromium_page, serve, settle

pytestmark = pytest.mark.browser
TIMEOUT = 180_000  # ms: 2 shared CPU cores run the server, the classifier's first training and Chromium
DIGITS = RunConfig(dataset="digits", arch="dcgan", loss="bce", steps=400, batch_size=32, log_every=100,
                   snapshot_every=100, checkpoint_every=400, latent_dim=12, base_channels=8, num_fixed=16,
                   device="cpu")
RING = RunConfig(dataset="ring8", arch="mlp", loss="bce", steps=800, batch_size=128, log_every=200,
                 snapshot_every=200, checkpoint_every=800, latent_dim=4, g_hidden=(64, 64), d_hidden=(64, 64),
                 num_fixed=16, device="cpu")


def _trained(runs: Path, cfg: RunConfig) -> str:
    run = Run.create(runs, cfg)
    assert train(cfg, run) == "finished"
    return run.id


def open_latent(page, url: str, run_id: str) -> None:
    """A fresh session on the run (?run=ID), then the Latent page through the sidebar."""
    page.goto(f"{url}/?run={run_id}")
    page.get_by_text("Train a GAN").wait_for()
    page.get_by_role("link", name="Latent space").click()
    page.get_by_text("G as of step").first.wait_for()
    page.get_by_text(run_id).first.wait_for()
    settle(page, TIMEOUT)


def tool(page, name: str) -> None:
    page.locator('[data-testid="stButtonGroup"]').get_by_text(name, exact=True).click()  # a radio-like toggle
    settle(page, TIMEOUT)


def shot_from(page, text: str, name: str, height: int = 1100) -> None:
    """A window-sized screenshot with `text` (a panel's first line) at its top: the panel, not the page above it."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.get_by_text(text).first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1200)
    page.screenshot(path=str(SHOTS / name))
    page.set_viewport_size({"width": 1400, "height": 1000})


def no_exception(page) -> None:
    assert not page.locator('[data-testid="stException"]').count(), "the Latent page raised"
    assert "Traceback" not in page.inner_text("body")


def test_latent_research_tools_in_the_browser(tmp_path):
    runs = tmp_path / "runs"
    digits, cond, ring = (_trained(runs, DIGITS), _trained(runs, DIGITS.replace(conditional=True)), _trained(runs, RING))
    with serve(runs, tmp_path / "data", log_path=tmp_path / "streamlit.log") as url, \
            chromium_page({"width": 1400, "height": 1000}, failure_png=tmp_path / "failure.png") as page:
        page.set_default_timeout(TIMEOUT)
        walk(page, url, digits, cond, ring)


def walk(page, url: str, digits: str, cond: str, ring: str) -> None:
    """Each research tool as a person clicks it, one screenshot per tool."""
    # --- digits: SeFa strips, then fidelity vs diversity measured on the button
    open_latent(page, url, digits)
    tool(page, "Directions")
    page.get_by_text("SeFa 5").first.wait_for()
    no_exception(page)
    shot_from(page, "Research tools", "latent_directions.png")
    tool(page, "Fidelity vs diversity")
    page.get_by_role("button", name=re.compile("Measure fidelity vs diversity")).click()
    page.locator(".js-plotly-plot").filter(has_text="precision").first.wait_for()
    settle(page, TIMEOUT)
    no_exception(page)
    shot_from(page, "Research tools", "latent_truncation.png", 1000)

    # --- conditional digits: project a dataset image, keep it, use it as seed A; then its neighbours
    open_latent(page, url, cond)
    tool(page, "Projection")
    box = page.get_by_role("spinbutton", name="Image index")
    box.fill("17")
    box.press("Enter")
    page.get_by_text("dataset image 17").first.wait_for()
    settle(page, TIMEOUT)
    page.get_by_role("button", name=re.compile("^.*Project$")).click()
    page.get_by_text(re.compile("for the best of the random z")).first.wait_for()
    page.get_by_role("button", name=re.compile("Keep as p1")).click()
    page.get_by_text("Kept latents").first.wait_for()
    seed_a = page.get_by_role("textbox", name="Seed A")
    seed_a.fill("p1")
    seed_a.press("Enter")
    settle(page, TIMEOUT)
    page.locator('[data-testid="stImage"]').filter(has_text="p1").first.wait_for()  # the strip starts at p1
    no_exception(page)
    shot_from(page, "Research tools", "latent_projection.png", 900)
    tool(page, "Nearest neighbours")
    page.get_by_text("Nearest distance over these samples").first.wait_for()
    no_exception(page)
    shot_from(page, "Research tools", "latent_neighbours.png", 1100)

    # --- ring8: the directions as paths over the data
    open_latent(page, url, ring)
    tool(page, "Directions")
    page.locator(".js-plotly-plot").filter(has_text="SeFa 1").first.wait_for()
    settle(page, TIMEOUT)
    no_exception(page)
    shot_from(page, "Research tools", "latent_points_directions.png", 1000)
