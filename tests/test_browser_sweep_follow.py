"""In a real headless Chromium: the Sweeps page's chart controls follow a live sweep as its trials start, one
after another, with nobody touching the page.

The browser is what matters: Streamlit's on_change also fires when the page itself set a widget's value under
new options, and a browser that lags a rerun sends the value it still shows. ganlab.ui.sweeps.follow took
either for the person's pick and froze the trial list there, so later trials never joined the curves (a CI
run on two busy cores drew one of two losses). AppTest runs no frontend and cannot show it.

The whole page at its own clocks (a refresh every 2 and 5 s) rarely loses the race on an idle box, so the
second test drives follow() alone in a small script with the page's layout and faster clocks, where the old
follow() froze the list in every try.
"""

from __future__ import annotations

import pytest

from ganlab.store import Run
from ganlab.sweeps import SweepDir, SweepSpec
from tests.helpers.server import ROOT, SHOTS, chromium_page, serve, serve_script, settle

pytestmark = pytest.mark.browser

WAIT_MS = 60_000  # the curves refresh every CHARTS_S (5 s) while the sweep is live
LOSSES = ("bce", "hinge", "lsgan")


def start_trial(sweep: SweepDir, trial, runs, *, loss_d: float) -> Run:
    """What a worker does when it starts a trial: the run directory, its first records, the trial's record."""
    run = Run.create(runs, trial.config)
    run.write_status("running", 20)
    for step in (10, 20):
        run.append_stats({"step": step, "Loss/D": loss_d + step / 1000})
    sweep.write_record(trial.key, run_id=run.id)
    return run


def curves(page):
    return page.locator('[data-testid="stPlotlyChart"]').filter(has_text="by params").first


def test_trials_that_start_later_join_the_curves_without_a_touch(tmp_path):
    """The Sweeps page itself. This test is the sweep's driver and its workers: it writes the sweep directory and
    the trials' runs as they do (driver.json owned by this live process, a trial's record naming its run the moment
    the run exists), so no Ray start-up and no training are paid for. Saves sweep-follow.png."""
    runs = tmp_path / "runs"
    spec = SweepSpec(base={"dataset": "ring8", "steps": 60}, grid={"loss": list(LOSSES)}, seeds=[0])
    sweep = SweepDir.for_spec(runs, spec)
    sweep.write_driver("running")  # owned by this process, which lives: the page polls it as live
    trials = spec.trials()
    started = [start_trial(sweep, trials[0], runs, loss_d=0.6)]
    with (serve(runs, tmp_path / "data", log_path=tmp_path / "server.log") as url,
          chromium_page({"width": 1440, "height": 1400}, failure_png=SHOTS / "sweep-follow-failure.png") as page):
        page.goto(url + "/sweeps")
        curves(page).get_by_text(f"loss={trials[0].params['loss']} (1 seed)").wait_for(timeout=WAIT_MS)
        for i, trial in enumerate(trials[1:], start=1):
            page.wait_for_timeout(3_000)  # a refresh or two with the trials so far, as a real sweep gives
            started.append(start_trial(sweep, trial, runs, loss_d=0.6 + 0.2 * i))
            curves(page).get_by_text(f"loss={trial.params['loss']} (1 seed)").wait_for(timeout=WAIT_MS)
        for run in started:
            run.write_status("finished", 60)
        sweep.write_driver("finished")
        page.get_by_text("is finished").first.wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        chart = curves(page)
        for trial in trials:
            chart.get_by_text(f"loss={trial.params['loss']} (1 seed)").wait_for(timeout=WAIT_MS)
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        chart.screenshot(path=str(SHOTS / "sweep-follow.png"))


def test_follow_never_takes_the_page_own_value_for_a_pick(tmp_path):
    """follow() alone, its clocks sped up (tests/helpers/follow_app.py): six trials start 1.5 s apart under
    reruns every 0.5 and 0.7 s. Before follow() checked what it offered, each of 3 tries froze the list at 3 or 4 trials."""
    with (serve_script(ROOT / "tests/helpers/follow_app.py", log_path=tmp_path / "server.log") as url,
          chromium_page(failure_png=SHOTS / "sweep-follow-app-failure.png") as page):
        page.goto(url)
        page.get_by_text("sweep is finished").wait_for(timeout=WAIT_MS)
        settle(page, WAIT_MS)
        assert page.get_by_text("chosen:").inner_text().split() == ["chosen:", *(f"trial-{i}" for i in range(6))]
