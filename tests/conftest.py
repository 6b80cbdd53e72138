"""Shared fixtures: every test gets its own run store and data root, never ./runs or ~/.cache."""

import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GANLAB_DATA", str(tmp_path / "data"))
    yield


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs two workers, `--dist loadgroup`) every test that drives Chromium goes to
    one worker, one after another: two browsers, two dashboards and their trainers at once on a 2-core box starve
    each other past the tests' waits. The rest share both workers: a clean clone's suite took 17.4 min rather than
    22.9 min one test at a time on the 2-vCPU box (2026-12-03)."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
