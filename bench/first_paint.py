"""How long a fresh server leaves the first visitor looking at a blank page.

    python -m bench.first_paint [--repeats 3]

Each repeat starts a new server (`python -m ganlab.ui.serve`, what `make run` runs; nothing imported,
nothing cached), opens it in
headless Chromium and times, from the navigation: the frame (the sidebar's page list) and the
whole Train page ("Train a GAN"). The frame must not wait for torch (#22: target ~2 s); the
page needs the engine, so it shows what the frame saves. Reports each repeat and the worst.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.helpers.server import launch_chromium, serve


def once() -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "runs", Path(tmp) / "data") as url, \
            sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        t0 = time.monotonic()
        page.goto(url + "/")
        page.get_by_test_id("stSidebarNav").wait_for(timeout=120_000)
        frame = time.monotonic() - t0
        page.get_by_text("Train a GAN").wait_for(timeout=120_000)
        full = time.monotonic() - t0
        browser.close()
    return frame, full


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    results = [once() for _ in range(a.repeats)]
    for i, (frame, full) in enumerate(results):
        print(f"repeat {i}: frame {frame:.2f} s, Train page {full:.2f} s")
    print(f"worst: frame {max(r[0] for r in results):.2f} s, Train page {max(r[1] for r in results):.2f} s")


if __name__ == "__main__":
    main()
