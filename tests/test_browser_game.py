"""Real headless Chromium on Monitor (issue #17): a ring8 run's game with G's gradient arrows and G's manifold,
the divergence chart, one D step on a paused run, the replay of game.h5 with its GIF, and two runs compared.
Saves monitor_game_arrows.png, monitor_game_manifold.png, monitor_divergence.png, monitor_step_by_step.png,
monitor_game_replay.png and monitor_game_compare.png under $GANLAB_SCREENSHOTS (default artifacts/screenshots)."""

from __future__ import annotations

import re
import time

import pytest

from ganlab.config import RunConfig
from ganlab.session import RunSession
from tests.helpers.server import SHOTS, chromium_page, serve, settle, start_from_train_page

pytestmark = pytest.mark.browser
WAIT_MS = 120_000  # 2 shared CPU cores run the server, the trainer and Chromium
_PLOT = "(title) => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.textContent.includes(title) && "
HAS_LINE = _PLOT + ("[...p.querySelectorAll('.scatterlayer .trace path.js-line')]"
                    ".some(l => (l.getAttribute('d') || '').split(/[LM]/).length > 3))")
HAS_TRACE = ("([title, name]) => [...document.querySelectorAll('.js-plotly-plot')].some(p => "
             "p.textContent.includes(title) && (p.data || []).some(t => (t.name || '').startsWith(name)))")
NO_TRACE = ("([title, name]) => [...document.querySelectorAll('.js-plotly-plot')].some(p => "
            "p.textContent.includes(title) && !(p.data || []).some(t => (t.name || '').startsWith(name)))")
FILLS = "(title) => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.textContent.includes(title) && " \
        "p.querySelectorAll('.scatterlayer .trace path.js-fill').length > 0)"


def plot(page, title: str):
    """The Plotly chart (its Streamlit element) whose text holds `title`."""
    return page.locator('[data-testid="stPlotlyChart"]').filter(has_text=title).first


def expander(page, label: str):
    return page.locator('[data-testid="stExpander"]').filter(has_text=label).first


def open_expander(page, label: str) -> None:
    box = expander(page, label)
    box.scroll_into_view_if_needed()
    if box.locator("details").get_attribute("open") is None:
        box.locator("summary").click()
        settle(page, WAIT_MS)


def shoot(locator, name: str) -> None:
    """An element's screenshot; a fragment's refresh may replace the element meanwhile, so try again."""
    for attempt in range(3):
        try:
            locator.scroll_into_view_if_needed()
            locator.page.mouse.move(1430, 5)  # no tooltip or hover label over the picture
            locator.page.wait_for_timeout(800)  # the charts re-layout once in view
            locator.screenshot(path=str(SHOTS / name))
            return
        except Exception:  # noqa: BLE001 - detached by a rerun: the next attempt finds the new element
            if attempt == 2:
                raise


def pick(page, select, option: str) -> None:
    """Choose `option` of a select box; a rerun that replaces the box closes its list, so open it again."""
    for _ in range(6):
        settle(page, WAIT_MS)
        select.click()
        choice = page.get_by_role("option", name=re.compile(re.escape(option))).first
        try:
            choice.wait_for(timeout=10_000)
        except Exception:  # noqa: BLE001 - the list closed under a rerun: open it again
            continue
        choice.click()
        settle(page, WAIT_MS)
        return
    raise AssertionError(f"could not pick {option}")


def toggle(page, label: str, on: bool) -> None:
    widget = page.locator('[data-testid="stCheckbox"]').filter(has_text=label).first
    if widget.locator("input").is_checked() != on:
        widget.locator("label").first.click()
        settle(page, WAIT_MS)
    assert widget.locator("input").is_checked() == on, label


def finished_run(runs, data, loss: str) -> str:
    """A short ring8 run trained beside the server, as the CLI would: game frames every 200 steps."""
    cfg = RunConfig(dataset="ring8", loss=loss, steps=1000, log_every=20, snapshot_every=200, checkpoint_every=1000,
                    batch_size=64, g_hidden=(32, 32), d_hidden=(32, 32), seed=3)
    session = RunSession.new(cfg, runs, data_root=data)
    assert session.run_training().state == "finished"
    return session.run.id


@pytest.fixture
def page():
    with chromium_page() as page:
        yield page


def test_the_game_on_monitor(page, tmp_path):
    try:
        _flow(page, tmp_path)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))  # kept under pytest's basetemp
        raise


def _replay_step(page) -> int:
    text = page.get_by_text(re.compile(r"The game at step [\d,]+ \(replay\)")).first.text_content() or ""
    return int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))


def _replay_back_to(page, slider, step: int) -> None:
    """ArrowLeft until the replay shows `step`, one press at a time: on a loaded machine a press made while the page
    reruns can be lost, so each press waits for the title to move and is made again if it did not."""
    for _ in range(12):
        now = _replay_step(page)
        if now <= step:
            break
        slider.focus()
        slider.press("ArrowLeft")
        end = time.monotonic() + 20
        while time.monotonic() < end and _replay_step(page) == now:
            page.wait_for_timeout(250)
        settle(page, WAIT_MS)
    page.get_by_text(f"The game at step {step:,} (replay)").first.wait_for(timeout=WAIT_MS)


def _flow(page, tmp_path) -> None:
    runs, data = tmp_path / "runs", tmp_path / "data"
    first, second = finished_run(runs, data, "bce"), finished_run(runs, data, "lsgan")
    with serve(runs, data, log_path=tmp_path / "server.log") as url:
        # step by step on a live run: pause, one D step, before and after side by side
        start_from_train_page(page, url, preset="ring8", steps=200_000, timeout_ms=WAIT_MS)
        page.wait_for_function(HAS_TRACE, arg=["The game at step", "G's gradient"], timeout=WAIT_MS)
        page.get_by_role("button", name="Pause").click()
        page.get_by_text(re.compile(r"paused · step")).first.wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        open_expander(page, "Step by step")
        page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => "
                               "b.innerText.includes('One D step') && !b.disabled)", timeout=WAIT_MS)
        page.get_by_role("button", name="One D step").click()
        page.wait_for_function(HAS_TRACE, arg=["After: step", "fake"], timeout=WAIT_MS)
        settle(page, WAIT_MS)
        assert not page.locator('[data-testid="stException"]').count(), "Monitor raised"
        shoot(expander(page, "Step by step"), "monitor_step_by_step.png")
        page.get_by_role("button", name=re.compile("Stop")).click()
        page.get_by_text(re.compile(r"stopped · step")).first.wait_for(timeout=WAIT_MS)

        # a finished run from disk: its game by the toggles, the divergence chart beside the losses
        page.goto(f"{url}/monitor?run={first}")
        page.get_by_role("heading", name=first).wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        page.wait_for_function(HAS_TRACE, arg=["The game at step 1,000", "G's gradient"], timeout=WAIT_MS)
        toggle(page, "G's manifold", False)
        page.wait_for_function(NO_TRACE, arg=["The game at step 1,000", "G's manifold"], timeout=WAIT_MS)
        shoot(plot(page, "The game at step 1,000"), "monitor_game_arrows.png")
        toggle(page, "Gradient arrows", False)
        toggle(page, "G's manifold", True)
        page.wait_for_function(FILLS, arg="The game at step 1,000", timeout=WAIT_MS)  # the shaded cells are drawn
        page.wait_for_function(NO_TRACE, arg=["The game at step 1,000", "G's gradient"], timeout=WAIT_MS)
        shoot(plot(page, "The game at step 1,000"), "monitor_game_manifold.png")
        toggle(page, "Gradient arrows", True)
        page.wait_for_function(HAS_LINE, arg="Divergence of real and fake", timeout=WAIT_MS)
        shoot(plot(page, "Divergence of real and fake"), "monitor_divergence.png")

        # the replay of game.h5, a GIF of it, and the comparison with a second run at the replay's step
        open_expander(page, "Time-lapse: the game")
        page.wait_for_function(HAS_TRACE, arg=["(replay)", "G's gradient"], timeout=WAIT_MS)
        slider = expander(page, "Time-lapse: the game").get_by_role("slider")
        _replay_back_to(page, slider, 400)  # from step 1,000, one snapshot (200 steps) a key press
        page.get_by_role("button", name="Make a GIF").click()
        page.get_by_role("button", name=re.compile("Download the replay")).wait_for(timeout=WAIT_MS)
        shoot(expander(page, "Time-lapse: the game"), "monitor_game_replay.png")

        open_expander(page, "Compare the game")
        box = expander(page, "Compare the game")
        pick(page, box.locator('[data-testid="stSelectbox"]'), second)
        settle(page, WAIT_MS)
        page.wait_for_function(HAS_TRACE, arg=[f"{second} at step 400", "fake"], timeout=WAIT_MS)
        page.wait_for_function(HAS_LINE, arg="across runs", timeout=WAIT_MS)
        assert not page.locator('[data-testid="stException"]').count(), "Monitor raised"
        shoot(box, "monitor_game_compare.png")
