"""Serve the dashboard in a subprocess (for the browser test and the UI-overhead benchmark)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py lives here
CHROMIUM = "/usr/bin/chromium"
# Screenshots go to artifacts/screenshots (ignored) so `make test` leaves the tree clean;
# GANLAB_SCREENSHOTS=docs/screenshots refreshes the ones the README shows.
SHOTS = ROOT / os.environ.get("GANLAB_SCREENSHOTS", "artifacts/screenshots")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(runs_dir: str | os.PathLike, data_dir: str | os.PathLike, *, port: int | None = None,
          log_path: str | os.PathLike | None = None, timeout: float = 90.0) -> Iterator[str]:
    """The dashboard as `make run` serves it (`python -m ganlab.ui.serve`, app.py behind its Host check) on
    127.0.0.1 with its own run store; yields the base URL; kills it after."""
    env = {"GANLAB_RUNS": str(runs_dir), "GANLAB_DATA": str(data_dir)}
    with _serving(["-m", "ganlab.ui.serve"], env, port=port, log_path=log_path, timeout=timeout) as url:
        yield url


@contextmanager
def serve_script(script: str | os.PathLike, *, log_path: str | os.PathLike | None = None,
                 timeout: float = 90.0) -> Iterator[str]:
    """One Streamlit script of the tests' own (`streamlit run SCRIPT`), to drive a piece of the UI in a real
    frontend on its own; yields the base URL; kills it after."""
    with _serving(["-m", "streamlit", "run", str(script)], {}, port=None, log_path=log_path, timeout=timeout) as url:
        yield url


@contextmanager
def _serving(args: list[str], env: dict, *, port: int | None, log_path, timeout: float) -> Iterator[str]:
    port = port or free_port()
    env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, *args, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--server.runOnSave", "false", "--theme.base", "light"]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, timeout)
        yield url
    finally:
        stop(proc)
        if log_path:
            log.close()


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """Terminate a server process, killing it if it ignores SIGTERM for `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")


# ---------------------------------------------------------------- driving it from Playwright

@contextmanager
def chromium_page(viewport: dict | None = None, *, failure_png: str | os.PathLike | None = None) -> Iterator:
    """A page of the system Chromium (skips the test where it is missing); closed after.

    failure_png: where to keep a screenshot when the block fails, to see what the page showed.
    """
    import pytest

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (CI installs chromium with apt)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport=viewport or {"width": 1440, "height": 1000})
        try:
            yield page
        except Exception:
            if failure_png is not None:
                page.screenshot(path=str(failure_png))
            raise
        finally:
            browser.close()


def launch_chromium(playwright):
    """The system Chromium (never a downloaded one), headless, with the network chatter off."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def start_from_train_page(page, url: str, *, preset: str, steps: int, timeout_ms: int = 90_000,
                          before_start=None) -> None:
    """Open Train, pick a preset, set the steps, press Start; returns once Monitor is open.

    before_start(page), when given, runs with the filled form on screen (e.g. a screenshot).
    """
    import re

    page.goto(url + "/")
    page.get_by_text("Train a GAN").wait_for(timeout=timeout_ms)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Start from a preset").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(preset)}:")).click()
    page.get_by_text("Source:").first.wait_for(timeout=timeout_ms)  # the preset's line (and its expander)
    settle(page, timeout_ms)  # the preset's values must reach every widget before the next input
    box = page.get_by_role("spinbutton", name="Steps (G updates)")
    box.fill(str(steps))
    box.press("Enter")
    page.get_by_text(f"{steps:,} steps").wait_for(timeout=timeout_ms)  # the "Ready: ..." line
    settle(page, timeout_ms)
    if before_start is not None:
        before_start(page)
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.wait_for_url(re.compile(r"/monitor"), timeout=timeout_ms)


def settle(page, timeout_ms: int = 90_000) -> None:
    """Wait until the app's rerun is over (Streamlit shows its status widget while a script runs)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)
    page.wait_for_timeout(300)
