"""The workflows in examples/, run as their header comments say: with ``plait run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .running import EXAMPLES, load_example_module, plait_run, runs


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a run writes lands in tmp_path


@runs("weather_any.yaml")
def test_weather_any_takes_the_first_good_provider_and_cancels_the_slow_one() -> None:
    # The slow provider answers only when the server stops: it can never win the race.
    with load_example_module("weather_server.py").serving(slow_seconds=60) as base_url:
        doc = plait_run("weather_any.yaml", f"base_url={base_url}")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["weather"] == {
        "provider": "provider3",
        "city": "Lyon",
        "temperature_c": 21.5,
        "conditions": "sunny",
    }
    group = doc["groups"]["weather_providers"]
    assert group["winner"] == "weather_api3"
    steps = doc["steps"]
    assert steps["weather_api2"]["status"] == "cancelled"
    assert "weather_api2" in group["skippedSteps"]
    # The provider that is down failed, unless the winner's answer came before its 503.
    assert steps["weather_api1"]["status"] in ("failed", "cancelled")
    if steps["weather_api1"]["status"] == "failed":
        assert steps["weather_api1"]["error"]["type"] == "HttpServerError"


@runs("sqlite_parallel.yaml")
def test_sqlite_parallel_loads_queries_in_two_groups_and_joins(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    doc = plait_run("sqlite_parallel.yaml", f"db={db}", "country=FR")
    assert doc["status"] == "succeeded", doc["error"]
    assert doc["outputs"]["report"] == {
        "revenue": [
            {"name": "Henri", "revenue": 60.0},
            {"name": "Marie", "revenue": 54.5},
            {"name": "Ada", "revenue": 54.0},
            {"name": "Grace", "revenue": 37.0},
        ],
        "customers": [{"name": "Henri"}, {"name": "Marie"}],
        "best_sellers": [{"name": "mug", "sold": 10}, {"name": "kettle", "sold": 3}],
        "low_stock": [{"name": "teapot", "stock": 3}],
    }
    steps = doc["steps"]
    # Both groups started once the setup was done, and each before the other finished.
    assert steps["setup"]["finished_at"] <= steps["sales"]["started_at"]
    assert steps["sales"]["started_at"] <= steps["catalog"]["finished_at"]
    assert steps["catalog"]["started_at"] <= steps["sales"]["finished_at"]
    assert db.is_file()


def test_sqlite_parallel_by_default_writes_beside_the_file(tmp_path: Path) -> None:
    """Run from a copy, so the default relative ``shop.db`` lands in tmp_path."""
    copy = tmp_path / "flows" / "sqlite_parallel.yaml"
    copy.parent.mkdir()
    copy.write_text((EXAMPLES / "sqlite_parallel.yaml").read_text(encoding="utf-8"))
    doc = plait_run(copy)
    assert doc["status"] == "succeeded"
    assert (tmp_path / "flows" / "shop.db").is_file()
