"""Real headless Chromium, issue #22: Train with mnist missing ("needs files", Start off), the Data page's
download of it from a mirror on 127.0.0.1, and Train refusing an invalid batch size with the reason.
Saves train-missing-data.png, data-download.png and train-invalid-input.png under $GANLAB_SCREENSHOTS
(artifacts/screenshots by default; GANLAB_SCREENSHOTS=docs/screenshots refreshes the README's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.server import SHOTS, chromium_page, serve

pytestmark = pytest.mark.browser
TIMEOUT = 90_000  # ms: 2 shared CPU cores run the server and Chromium


def go(page, url: str, link: str, ready: str) -> None:
    """Open a page through the sidebar (a deep link such as /data skips app.py's router)."""
    page.goto(url + "/")
    page.get_by_text("Train a GAN").wait_for()
    if link != "Train":
        page.get_by_role("link", name=link).click()
    page.get_by_text(ready).first.wait_for()


def pick(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


def number(page, label: str, value) -> None:
    box = page.get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Enter")


def shoot(page, path: Path, *, top: str | None = None) -> None:
    """The whole page (Streamlit scrolls inside its own container, so the window is made tall enough)."""
    from tests.helpers.server import settle

    page.evaluate("() => document.activeElement?.blur()")  # no focus ring on the last widget touched
    settle(page)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 900), 4000)})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})


def start_button(page):
    return page.get_by_role("button", name=re.compile("Start training"))


def test_missing_data_download_and_invalid_input_in_the_browser(tmp_path, monkeypatch):
    from tests.helpers.mirror import build_mirror, serving, sitecustomize_dir

    patches = build_mirror(tmp_path / "mirror")
    site, md5s = sitecustomize_dir(tmp_path / "site", patches)  # the served app's torchvision expects these files
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("GANLAB_TEST_TORCHVISION_MD5", str(md5s))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    data_dir = tmp_path / "data"
    with serving(tmp_path / "mirror") as mirror:
        monkeypatch.setenv("GANLAB_MIRROR", mirror)
        with serve(tmp_path / "runs", data_dir, log_path=tmp_path / "streamlit.log") as url, \
                chromium_page({"width": 1400, "height": 1000}, failure_png=tmp_path / "failure.png") as page:
            page.set_default_timeout(TIMEOUT)
            _flow(page, url, data_dir, mirror)
    assert not list((tmp_path / "runs").glob("*")), "no run was started, so no dead run is listed"


def _flow(page, url: str, data_dir: Path, mirror: str) -> None:
    # --- Train: mnist without its files says so and keeps Start off
    go(page, url, "Train", "Train a GAN")
    pick(page, "Dataset", "mnist")
    page.get_by_text("mnist needs files").wait_for()
    assert start_button(page).is_disabled()
    assert page.get_by_text("Ready:").count() == 0
    assert "train-images-idx3-ubyte" in page.locator('[data-testid="stAlert"]').filter(has_text="needs files").inner_text()
    shoot(page, SHOTS / "train-missing-data.png")

    # --- Data: the button there opens the download of mnist; it comes from the local mirror
    page.get_by_role("button", name=re.compile("Get mnist on the Data page")).click()
    page.get_by_text("Get MNIST, Fashion-MNIST or CIFAR-10").wait_for()
    page.get_by_text(f"From {mirror}/mnist/").wait_for()
    page.get_by_role("button", name=re.compile("Download mnist")).click()
    page.get_by_text(re.compile(r"Downloaded mnist: 4 files")).wait_for()
    page.get_by_text("mnist is here").wait_for()
    page.get_by_text("30 random samples").wait_for()  # the browser below shows the new dataset
    assert (data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    shoot(page, SHOTS / "data-download.png")

    # --- Train: mnist is Ready now; a batch size of 0 is refused with the config's sentence, Start off
    page.get_by_role("link", name="Train").click()  # the sidebar: same session, so the form still says mnist
    page.get_by_text(re.compile(r"Ready: mnist")).wait_for()
    assert not start_button(page).is_disabled()
    pick(page, "Dataset", "ring8")
    page.get_by_text(re.compile(r"Ready: ring8")).wait_for()
    number(page, "Batch size", 0)
    page.get_by_text(re.compile(r"batch_size: 0 is out of range")).wait_for()
    assert page.get_by_role("spinbutton", name="Batch size").input_value() == "0"
    assert start_button(page).is_disabled() and page.get_by_text("Ready:").count() == 0
    shoot(page, SHOTS / "train-invalid-input.png")
    text = page.inner_text("body")
    assert "Traceback" not in text
