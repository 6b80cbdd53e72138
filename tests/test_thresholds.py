"""Quality thresholds on known metric rows: a perfect row, one missing mode, FD and SW above/below their multiples,
and reached_at over a run's tick records."""

import math

import pytest

from ganlab.config import thresholds as th
from ganlab.evaluation import thresholds as facade


def _mixture(covered=8, hq=0.99):
    return {"modes_covered": covered, "modes_total": 8, "high_quality_rate": hq}


def _images(classes=10, fd=3.0, floor=2.0):
    return {"class_coverage": classes, "classes_total": 10, "fd": fd, "fd_real_split": floor}


def test_every_family_names_its_thresholds_and_a_headline():
    assert facade.THRESHOLDS is th.THRESHOLDS and facade.reached_at is th.reached_at
    assert [t.name for t in th.THRESHOLDS["mixture"]] == ["modes", "hq90", "hq95", "hq97"]
    assert [t.name for t in th.THRESHOLDS["classifier"]] == ["classes", "fd2x", "fd1.5x"]
    assert [t.name for t in th.THRESHOLDS["points"]] == ["sw2x", "sw1.5x"]
    for family, name in th.HEADLINE.items():
        assert th.resolve(family, "good") is th.resolve(family, name) is not None
    assert th.names_for("gaussian") == [] and th.resolve("mixture", "fd2x") is None
    assert th.names_for("mixture")[0] == "good"


def test_a_perfect_mixture_row_meets_every_threshold_and_one_missing_mode_meets_none():
    assert th.met_names(_mixture(), "mixture") == ["modes", "hq90", "hq95", "hq97"]
    assert th.met_names(_mixture(covered=7), "mixture") == []  # 99% HQ on 7 of 8 modes is a collapse, not quality
    assert th.met_names(_mixture(hq=0.96), "mixture") == ["modes", "hq90", "hq95"]
    assert th.met_names(_mixture(hq=0.95), "mixture") == ["modes", "hq90", "hq95"]  # at the line counts
    assert th.met_names({"Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.91}) == [
        "modes", "hq90"]  # the tick record's Metric/ keys read the same
    assert th.met_names({"modes_covered": 8, "modes_total": 8, "high_quality_rate": None}) == ["modes"]


def test_fd_against_the_multiples_of_its_real_floor():
    assert th.met_names(_images(fd=2.9), "classifier") == ["classes", "fd2x", "fd1.5x"]
    assert th.met_names(_images(fd=3.5), "classifier") == ["classes", "fd2x"]
    assert th.met_names(_images(fd=4.1), "classifier") == ["classes"]
    assert th.met_names(_images(classes=9, fd=2.1), "classifier") == []
    assert th.met_names(_images(fd=float("nan")), "classifier") == ["classes"]


def test_sliced_wasserstein_against_its_floor():
    row = {"sliced_wasserstein": 0.029, "sliced_wasserstein_floor": 0.02}
    assert th.met_names(row, "points") == ["sw2x", "sw1.5x"]
    assert th.met_names({**row, "sliced_wasserstein": 0.035}, "points") == ["sw2x"]
    assert th.met_names({**row, "sliced_wasserstein": 0.041}, "points") == []
    assert "2.05x its real floor" in th.resolve("points", "sw2x").says({**row, "sliced_wasserstein": 0.041})


def test_reached_at_is_the_first_row_meeting_each_threshold_with_its_step_and_seconds():
    rows = [  # stats.jsonl tick records: losses on every tick, metrics on eval ticks only
        {"step": 300, "time": 9.0, "Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.96},
        {"step": 100, "time": 3.0, "Loss/D": 0.7},
        {"step": 200, "time": 6.0, "Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.5},
        {"step": 400, "time": 12.0, "Metric/modes_covered": 7, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.99},
        {"step": 500, "Metric/modes_covered": 8, "Metric/modes_total": 8, "Metric/high_quality_rate": 0.98},
    ]
    got = th.reached_at(rows, "mixture")
    assert got["modes"] == (200, 6.0) and got["hq90"] == got["hq95"] == (300, 9.0)
    step, secs = got["hq97"]
    assert step == 500 and math.isnan(secs)  # a row without a clock still says where
    assert th.reached_at([{"step": 100, "time": 1.0, "Loss/D": 0.6}]) == {}


def test_early_stop_says_the_rows_own_figures():
    stop = th.EarlyStop("mixture", "good")
    assert stop({"step": 1000, **_mixture(hq=0.94)}) is None and stop.reason is None
    reason = stop({"step": 1800, **_mixture(hq=0.961)})
    assert reason == stop.reason == ("stopped early: 8/8 modes at 96.1% high quality (hq95: every mode, 95% high "
                                     "quality) at step 1,800")
    with pytest.raises(ValueError):
        th.EarlyStop("gaussian", "good")
