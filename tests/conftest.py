"""Shared test configuration. Helpers for one area live in that area's conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run by tests record nowhere unless a test names a store: no test writes
    .plait/plait.db into the checkout."""
    monkeypatch.setenv("PLAIT_STORE", "memory://")
