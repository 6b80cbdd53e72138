"""Real headless Chromium, issue #16: the Train page's point-family picker and the recommended recipe it says it
applied. Saves train-recipe-family.png (a ring of 12 with its parameter boxes, the recipe note) and
train-recipe-mnist.png (MNIST filled with the 28x28 DCGAN recipe) and train-recipe-mnist-advanced.png (its
Advanced fields: one more conv layer at 7x7) under $GANLAB_SCREENSHOTS."""

from __future__ import annotations

import re

import pytest

from tests.helpers.server import SHOTS, chromium_page, serve
from tests.test_browser_train_data import go, number, pick, shoot, start_button

pytestmark = pytest.mark.browser
TIMEOUT = 90_000  # ms: 2 shared CPU cores run the server and Chromium


def test_family_picker_and_recipe_note_in_the_browser(tmp_path):
    with serve(tmp_path / "runs", tmp_path / "data", log_path=tmp_path / "streamlit.log") as url, \
            chromium_page({"width": 1400, "height": 1000}, failure_png=tmp_path / "failure.png") as page:
        page.set_default_timeout(TIMEOUT)
        go(page, url, "Train", "Train a GAN")
        page.get_by_text("Recommended recipe for point data").wait_for()  # ring8 on first load: the points recipe
        pick(page, "Dataset", "ring… (choose its parameters)")
        number(page, "Modes N", 12)
        number(page, "Std", 0.03)
        page.get_by_text(re.compile(r"Ready: ring:12,std=0.03")).wait_for()
        assert not start_button(page).is_disabled()
        number(page, "Steps (G updates)", 1500)
        page.get_by_text("yours win: steps").wait_for()
        shoot(page, SHOTS / "train-recipe-family.png")

        pick(page, "Dataset", "mnist")
        page.get_by_text("Recommended recipe for 28x28 grey images").wait_for()
        assert page.get_by_text(re.compile("Steps .G updates.")).count() >= 1
        assert page.get_by_role("spinbutton", name="Steps (G updates)").input_value() == "1500"  # still the person's
        assert page.get_by_role("spinbutton", name="Latent size (z)").input_value() == "100"  # the recipe's
        shoot(page, SHOTS / "train-recipe-mnist.png")
        page.get_by_text("Advanced: optimiser, widths, penalties, seed, bookkeeping").click()
        coarse = page.get_by_role("spinbutton", name="DCGAN extra layers at the coarsest size")
        coarse.wait_for()
        assert coarse.input_value() == "1", "the 28x28 recipe's one more layer at 7x7"
        coarse.scroll_into_view_if_needed()
        shoot(page, SHOTS / "train-recipe-mnist-advanced.png")
        assert "Traceback" not in page.inner_text("body")
