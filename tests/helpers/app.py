"""Shared by the AppTest page tests: each test gets its own JobManager, and its runs stop after it."""

import time

import pytest

from ganlab.ui.manager import get_manager


@pytest.fixture(autouse=True)
def fresh_manager():
    """get_manager() is a process-wide st.cache_resource: give each test its own, stop its runs after."""
    get_manager.clear()
    yield
    get_manager().shutdown()
    get_manager.clear()


def wait_for(predicate, timeout: float = 90.0, what: str = "condition"):
    """predicate()'s first truthy value, polled every 50 ms; an AssertionError naming `what` after timeout s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
