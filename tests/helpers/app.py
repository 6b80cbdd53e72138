"""Shared by the AppTest page tests: each test gets its own JobManager, and its runs stop after it."""

import pytest

from ganlab.ui.manager import get_manager


@pytest.fixture(autouse=True)
def fresh_manager():
    """get_manager() is a process-wide st.cache_resource: give each test its own, stop its runs after."""
    get_manager.clear()
    yield
    get_manager().shutdown()
    get_manager.clear()
