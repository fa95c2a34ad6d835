"""Shared test configuration. Helpers for one area live in that area's conftest.py."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run by tests record nowhere unless a test names a store: no test writes
    .plait/plait.db into the checkout."""
    monkeypatch.setenv("PLAIT_STORE", "memory://")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write("wf.yaml", text)`` writes dedented text into tmp_path and returns the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
