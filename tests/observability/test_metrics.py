"""Prometheus metrics (issue 13): a run's attempts counted in process agree with what
the store recorded, and the store collector counts the same; pool gauges while a run
runs. Each test has a private ``CollectorRegistry``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import plait
from plait.observability.metrics import StoreCollector
from plait.store import Store, open_store
from store.conftest import postgres_url  # noqa: F401  (the session's PostgreSQL database)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = str(tmp_path / "runs.db")
    else:
        url = str(request.getfixturevalue("postgres_url"))
    opened = open_store(url)
    yield opened
    opened.close()


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``name``'s samples by their labels (sorted), from the registry's exposition."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    text = generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def total(registry: CollectorRegistry, name: str, where: dict[str, str] | None = None) -> float:
    return sum(
        value
        for labels, value in samples(registry, name).items()
        if all(dict(labels).get(k) == v for k, v in (where or {}).items())
    )


def flaky_once() -> Any:
    calls = {"n": 0}

    def flaky(value: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("refused")
        return value

    return flaky


def workflows() -> list[plait.Workflow]:
    ok = plait.Workflow.from_dict(
        {
            "name": "ok",
            "steps": [
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "noop"},
                {"id": "g", "parallelGroup": {"steps": ["a", "b"]}},
                {
                    "id": "m",
                    "parallel": {"count": 3, "steps": [{"id": "x", "tool": "echo", "input": 1}]},
                },
                {"id": "skipped", "tool": "noop", "when": "${false}"},
            ],
        }
    )
    retried = plait.Workflow.from_dict(
        {
            "name": "retried",
            "steps": [
                {
                    "id": "flaky",
                    "tool": flaky_once(),
                    "input": 1,
                    "retry": {"maxAttempts": 3, "backoff": {"initial": "1ms"}},
                    "pool": "api",
                },
            ],
            "pools": {"api": {"maxConcurrent": 2}},
        }
    )
    failing = plait.Workflow.from_dict(
        {
            "name": "failing",
            "steps": [
                {"id": "before", "tool": "echo", "input": 1},
                {"id": "boom", "tool": "fail", "input": {"message": "no"}, "dependsOn": "before"},
                {"id": "after", "tool": "noop", "dependsOn": "boom"},
            ],
        }
    )
    return [ok, retried, failing]


async def test_attempts_counted_in_process_and_from_the_store_agree(store: Store) -> None:
    registry = CollectorRegistry()
    results = [await wf.run(store=store, metrics=registry) for wf in workflows()]
    assert [r.status.value for r in results] == ["succeeded", "succeeded", "failed"]
    recorded = [
        step for result in results for step in store.get_steps(result.run_id) if step.attempt > 0
    ]
    # ok: a, b, g, m, x<0..2> = 7; retried: 2 attempts; failing: before, boom = 2
    assert len(recorded) == 11
    counted = total(registry, "plait_step_attempts_total")
    assert counted == len(recorded)
    assert total(registry, "plait_step_attempt_duration_seconds_count") == len(recorded)
    assert total(registry, "plait_step_attempts_total", {"status": "failed"}) == 2
    retried = {"workflow": "retried", "pool": "api", "tool": "flaky"}
    assert total(registry, "plait_step_attempts_total", {**retried, "status": "failed"}) == 1
    assert total(registry, "plait_step_attempts_total", {**retried, "status": "succeeded"}) == 1
    assert total(registry, "plait_step_attempts_total", {"tool": "noop"}) == 2  # a, b
    assert total(registry, "plait_runs_total") == 3
    assert total(registry, "plait_runs_total", {"workflow": "failing", "status": "failed"}) == 1
    assert total(registry, "plait_run_duration_seconds_count") == 3

    from_store = CollectorRegistry()
    from_store.register(StoreCollector(store))
    assert total(from_store, "plait_step_attempts_total") == counted
    for status in ("succeeded", "failed"):
        assert total(from_store, "plait_step_attempts_total", {"status": status}) == total(
            registry, "plait_step_attempts_total", {"status": status}
        )
    assert total(from_store, "plait_runs_total") == 3
    assert total(from_store, "plait_runs_total", {"workflow": "failing", "status": "failed"}) == 1


async def test_the_store_collector_counts_active_runs_and_caches(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    wf = plait.Workflow.from_dict(
        {"name": "waits", "steps": [{"id": "w", "wait": "go"}, {"id": "a", "tool": "noop"}]}
    )
    paused = await wf.run(store=store)
    assert paused.status.value == "paused"
    registry = CollectorRegistry()
    collector = StoreCollector(store, cache_seconds=3600)
    registry.register(collector)
    assert total(registry, "plait_runs_active", {"workflow": "waits", "status": "paused"}) == 1
    assert total(registry, "plait_runs_total") == 0
    await wf.run(store=store)  # a second run: not seen while the cache holds
    assert total(registry, "plait_runs_active") == 1
    collector.cache_seconds = 0
    assert total(registry, "plait_runs_active") == 2
    store.close()


async def test_pool_gauges_while_a_run_runs() -> None:
    registry = CollectorRegistry()
    seen: dict[str, float] = {}

    async def look(value: Any) -> None:
        labels = {"workflow": "gauged", "pool": "api"}
        seen["running"] = total(registry, "plait_pool_running", labels)
        seen["queued"] = total(registry, "plait_pool_queued", labels)
        seen["limit"] = total(registry, "plait_pool_limit", labels)
        seen["breaker"] = total(registry, "plait_pool_breaker_state", labels)

    wf = plait.Workflow.from_dict(
        {
            "name": "gauged",
            "pools": {"api": {"maxConcurrent": 3, "circuitBreaker": {"failureThreshold": 5}}},
            "steps": [{"id": "look", "tool": look, "input": 1, "pool": "api"}],
        }
    )
    result = await wf.run(metrics=registry)
    assert result.status.value == "succeeded"
    assert seen == {"running": 1.0, "queued": 0.0, "limit": 3.0, "breaker": 0.0}
    assert samples(registry, "plait_pool_running") == {}  # the run ended: no pool left


async def test_two_runs_into_one_registry_share_its_metrics() -> None:
    registry = CollectorRegistry()
    wf = plait.Workflow.from_dict({"name": "twice", "steps": [{"id": "a", "tool": "noop"}]})
    await wf.run(metrics=registry)
    await wf.run(metrics=registry)
    assert total(registry, "plait_step_attempts_total", {"workflow": "twice"}) == 2
    assert total(registry, "plait_runs_total", {"workflow": "twice"}) == 2
