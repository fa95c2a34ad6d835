"""The Parallel Data Fetch demo of seed 001, as shipped in examples/."""

from __future__ import annotations

from pathlib import Path

from .conftest import Invoke

DEMO = Path(__file__).resolve().parents[2] / "examples" / "parallel_data_fetch.yaml"


def test_demo_runs_and_totals_the_revenue(plait_cli: Invoke) -> None:
    outcome = plait_cli("run", DEMO, "--json", "-i", "latency_ms=1")
    assert outcome.exit_code == 0, outcome.stderr
    doc = outcome.json()
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["total"] == 894.0
    assert doc["outputs"]["revenue_by_user"] == {"ada": 257.0, "grace": 317.0, "linus": 320.0}
    group = doc["groups"]["fetch_all"]
    assert group["success"] is True
    assert sorted(group["completedSteps"]) == ["fetch_orders", "fetch_products", "fetch_users"]
    aggregate_start = doc["steps"]["aggregate"]["started_at"]
    assert all(
        doc["steps"][s]["finished_at"] <= aggregate_start
        for s in ("fetch_users", "fetch_products", "fetch_orders")
    )


def test_demo_validates(plait_cli: Invoke) -> None:
    outcome = plait_cli("validate", DEMO)
    assert outcome.exit_code == 0
    assert "ok: workflow 'parallel-data-fetch', 4 tasks, 1 groups" in outcome.stdout
