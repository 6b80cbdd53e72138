"""Real headless Chromium: pack an image folder on the Data page, train a DCGAN on it from the Train
page, watch the Monitor show samples, then open the Latent page. Saves {data,latent}.png under $GANLAB_SCREENSHOTS."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers.server import SHOTS, chromium_page, serve

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
STEPS = 300  # a short DCGAN run on 2 shared cores: soft blobs, not yet crisp shapes
TIMEOUT = 120_000  # ms: 2 shared CPU cores run the server, the trainer and Chromium


def shapes_folder(root: Path, n: int = 64, size: int = 16) -> Path:
    """n PNGs in two class folders: bright discs and bright squares on dark, random place and colour."""
    rng = np.random.RandomState(0)
    for i in range(n):
        kind = "discs" if i % 2 else "squares"
        im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.randint(0, 60, 3)))
        r = rng.randint(3, 6)
        cx, cy = rng.randint(r, size - r, 2)
        colour = tuple(int(v) for v in rng.randint(150, 256, 3))
        draw = ImageDraw.Draw(im)
        (draw.ellipse if kind == "discs" else draw.rectangle)([cx - r, cy - r, cx + r, cy + r], fill=colour)
        (root / kind).mkdir(parents=True, exist_ok=True)
        im.save(root / kind / f"{i:03d}.png")
    return root


def pick(page, label: str, option: str | re.Pattern) -> None:
    """Choose an option of the Streamlit selectbox whose label is `label`."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option).first.click()


def go(page, url: str, link: str, ready: str) -> None:
    """Open a page through the sidebar (a deep link such as /data skips app.py's router)."""
    page.goto(url + "/")
    page.get_by_text("Train a GAN").wait_for()
    if link != "Train":
        page.get_by_role("link", name=link).click()
    page.get_by_text(ready).first.wait_for()


def shoot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its own container, so make the window tall enough."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 900), 4000)})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})


def number(page, label: str, value) -> None:
    """Type a number and wait until the box holds exactly it. A rerun that lands mid-fill (the form refilling after
    the architecture changed) once left "2000" in front of the typed "300": a 2,000,300-step run, and a timeout."""
    box = page.get_by_role("spinbutton", name=label)
    for _ in range(5):
        box.fill(str(value))
        box.press("Enter")
        page.wait_for_timeout(300)
        if box.input_value() == str(value):
            return
    raise AssertionError(f"{label}: the box holds {box.input_value()!r}, not {value}")


def test_pack_then_train_dcgan_in_the_browser(tmp_path):
    src = shapes_folder(tmp_path / "shapes")
    data_dir = tmp_path / "data"
    with serve(tmp_path / "runs", data_dir, log_path=tmp_path / "streamlit.log") as url, \
            chromium_page({"width": 1400, "height": 1000}, failure_png=tmp_path / "failure.png") as page:
        page.set_default_timeout(TIMEOUT)
        _flow(page, url, src, data_dir)


def _flow(page, url: str, src: Path, data_dir: Path) -> None:
    """Data: pack -> Train: DCGAN on the packed file -> Monitor: samples -> Latent: strips."""
    # --- Data: pack the folder from its server path, 16 px, labels from the sub-folders
    go(page, url, "Data", "Pack your images")
    page.get_by_text("a folder or archive on this server").click()
    path_box = page.get_by_role("textbox", name="Folder or archive path on the server")
    path_box.fill(str(src))
    path_box.press("Enter")
    page.get_by_role("textbox", name="Dataset name").wait_for()
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Size").get_by_role("slider")
    thumb.focus()
    for _ in range(4):  # 64 -> 48 -> 32 -> 28 -> 16
        thumb.press("ArrowLeft")
    page.get_by_text("sub-folder names").click()
    page.locator('[data-testid="stSlider"]').filter(has_text="Size").get_by_text("16").first.wait_for()
    page.get_by_role("button", name=re.compile("Pack")).click()
    page.get_by_text("Packed 64 images").first.wait_for()
    assert (data_dir / "shapes.h5").is_file()
    page.get_by_text("64 random samples").wait_for()  # the browser switched to the new file
    page.locator(".js-plotly-plot").first.wait_for()  # its label histogram
    shoot(page, SHOTS / "data.png")

    # --- Train: the packed file is in the dataset list; DCGAN, a short run
    go(page, url, "Train", "Train a GAN")
    pick(page, "Dataset", re.compile(r"hdf5: shapes\.h5"))
    page.get_by_text("Packed HDF5 file").wait_for()
    pick(page, "Architecture", "dcgan")
    number(page, "Steps (G updates)", STEPS)
    number(page, "Batch size", 32)
    page.get_by_text("Advanced: optimiser").click()
    number(page, "DCGAN base channels", 16)
    page.get_by_text(re.compile(rf"(?<![\d,]){STEPS} steps")).first.wait_for()  # "Ready: ...": nothing blocks Start
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.wait_for_url(re.compile(r"/monitor"))

    # --- Monitor: samples of the fixed batch and the step counter appear
    page.get_by_text(re.compile(r"Fixed latent batch at step [1-9]")).first.wait_for()
    page.get_by_text(re.compile(rf"step {STEPS} / {STEPS}")).first.wait_for(timeout=300_000)

    # --- Latent: the finished run's G, a strip with seeds
    go(page, url, "Latent space", "G as of step")
    page.get_by_role("tab", name="Random grid").click()
    page.get_by_text("seed 0", exact=True).first.wait_for()
    page.get_by_role("tab", name="Interpolation").click()
    shoot(page, SHOTS / "latent.png")
    text = page.inner_text("body")
    assert "Traceback" not in text and "Error" not in text.replace("Errors", "")
