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
