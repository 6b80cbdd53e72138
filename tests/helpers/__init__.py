"""Test-only tools: the served app and headless Chromium (server.py), the page tests' shared fixture (app.py)."""
