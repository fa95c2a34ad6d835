"""OpenTelemetry traces of runs (issue 13): the span tree, retries as sibling spans,
errors, skipped and short steps counted on the parent, a resume in the same trace, the
http tool's traceparent, trace ids on plait's log records, and no OpenTelemetry at all
for a run that is not traced."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from typer.testing import CliRunner

import plait
from fixtures.http_server import LocalServer
from plait.cli.app import app
from plait.compiler.subworkflows import unregister_workflow
from plait.store import open_store

from .conftest import Traced

CHILD = {
    "name": "child",
    "steps": [{"id": "inner", "tool": "echo", "input": "in"}],
}


@pytest.fixture
def child() -> Iterator[str]:
    name = plait.register_workflow(plait.Workflow.from_dict(CHILD))
    try:
        yield name
    finally:
        unregister_workflow(name)


def flaky_once() -> Any:
    """A tool that fails its first call and succeeds after."""
    calls = {"n": 0}

    def flaky(value: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("first call refused")
        return value

    return flaky


def tree_workflow(child: str) -> plait.Workflow:
    return plait.Workflow.from_dict(
        {
            "name": "tree",
            "steps": [
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "noop"},
                {"id": "c", "tool": "noop"},
                {"id": "fan", "parallelGroup": {"steps": ["a", "b", "c"]}},
                {
                    "id": "each",
                    "parallel": {
                        "items": [1, 2, 3],
                        "steps": [{"id": "double", "tool": "echo", "input": "${parallel.item}"}],
                    },
                },
                {
                    "id": "again",
                    "loop": {"type": "for", "count": 2, "steps": [{"id": "tick", "tool": "noop"}]},
                },
                {"id": "sub", "workflow": child},
                {
                    "id": "flaky",
                    "tool": flaky_once(),
                    "input": 7,
                    "retry": {"maxAttempts": 2, "backoff": {"initial": "1ms"}},
                },
                {"id": "never", "tool": "noop", "when": "${false}"},
            ],
        }
    )


async def test_the_span_tree_of_a_run(traced: Traced, child: str) -> None:
    result = await tree_workflow(child).run(tracer_provider=traced.provider)
    assert result.status.value == "succeeded"
    assert traced.names() == sorted(
        ["run tree", "group fan", "map each", "loop again", "workflow sub"]
        + ["step a", "step b", "step c", "step inner", "step flaky", "step flaky"]
        + ["step double"] * 3
        + ["step tick"] * 2
    )
    root = traced.one("run tree")
    assert root.parent is None
    assert root.attributes is not None
    assert root.attributes["plait.run_id"] == result.run_id
    assert root.attributes["plait.workflow"] == "tree"
    assert root.attributes["plait.status"] == "succeeded"
    assert root.attributes["plait.skipped_steps"] == 1  # `never`: no span, a count
    assert {s.context.trace_id for s in traced.spans} == {root.context.trace_id}

    def parent(name: str) -> str | None:
        found = {getattr(traced.parent_of(s), "name", None) for s in traced.named(name)}
        assert len(found) == 1, (name, found)
        return found.pop()

    expected = {
        "group fan": "run tree",
        "map each": "run tree",
        "loop again": "run tree",
        "workflow sub": "run tree",
        "step flaky": "run tree",
        "step a": "group fan",
        "step b": "group fan",
        "step c": "group fan",
        "step double": "map each",
        "step tick": "loop again",
        "step inner": "workflow sub",
    }
    assert {name: parent(name) for name in expected} == expected

    a = traced.one("step a").attributes
    assert a is not None
    assert dict(a) == {
        "plait.node_id": "a",
        "plait.step_id": "a",
        "plait.attempt": 1,
        "plait.pool": "default",
        "plait.tool": "noop",
        "plait.status": "succeeded",
    }
    doubles = traced.named("step double")
    assert sorted(s.attributes["plait.branch_index"] for s in doubles) == [0, 1, 2]  # type: ignore[index]
    assert sorted(s.attributes["plait.node_id"] for s in doubles) == [  # type: ignore[index]
        "double<0>",
        "double<1>",
        "double<2>",
    ]
    ticks = traced.named("step tick")
    assert sorted(s.attributes["plait.loop_iteration"] for s in ticks) == [0, 1]  # type: ignore[index]
    inner = traced.one("step inner").attributes
    assert inner is not None
    assert inner["plait.node_id"] == "sub/inner"
    fan = traced.one("group fan").attributes
    assert fan is not None
    assert fan["plait.status"] == "succeeded"
    assert all(
        s.status.status_code is StatusCode.UNSET for s in traced.spans if "flaky" not in s.name
    )


async def test_a_retry_is_a_sibling_span_and_the_failed_attempt_is_an_error(
    traced: Traced, child: str
) -> None:
    await tree_workflow(child).run(tracer_provider=traced.provider)
    first, second = sorted(traced.named("step flaky"), key=lambda s: s.start_time or 0)
    assert first.parent == second.parent  # siblings, both under the run
    assert first.attributes is not None
    assert second.attributes is not None
    assert (first.attributes["plait.attempt"], second.attributes["plait.attempt"]) == (1, 2)
    assert first.attributes["plait.status"] == "failed"
    assert first.attributes["error.type"] == "ConnectionError"
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "first call refused"
    (event,) = first.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ConnectionError"
    assert event.attributes["exception.message"] == "first call refused"
    assert "raise ConnectionError" in str(event.attributes["exception.stacktrace"])
    assert second.attributes["plait.status"] == "succeeded"
    assert second.status.status_code is StatusCode.UNSET
    # back-dated: each attempt's span covers that attempt, the second after the first
    assert first.end_time is not None
    assert second.start_time is not None
    assert first.end_time <= second.start_time


async def test_failed_and_timed_out_steps_and_the_run_are_errors(traced: Traced) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "bad",
            "steps": [
                {
                    "id": "slow",
                    "tool": "sleep",
                    "input": {"duration": "5s"},
                    "timeout": "10ms",
                    "continueOnError": True,
                },
                {
                    "id": "boom",
                    "tool": "fail",
                    "input": {"message": "no", "type": "Nope"},
                    "dependsOn": "slow",
                },
            ],
        }
    )
    result = await wf.run(tracer_provider=traced.provider)
    assert result.status.value == "failed"
    boom, slow, run = traced.one("step boom"), traced.one("step slow"), traced.one("run bad")
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.attributes is not None
    assert boom.attributes["error.type"] == "Nope"
    assert slow.status.status_code is StatusCode.ERROR
    assert slow.attributes is not None
    assert slow.attributes["plait.status"] == "timed_out"
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes is not None
    assert run.attributes["plait.status"] == "failed"


async def test_steps_shorter_than_min_step_duration_are_counted_not_spanned(
    traced: Traced,
) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "short",
            "tracing": {"minStepDuration": "1h"},
            "steps": [
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "noop"},
                {"id": "g", "parallelGroup": {"steps": ["a", "b"]}},
                {"id": "c", "tool": "noop"},
                {"id": "bad", "tool": "fail", "input": {"message": "x"}, "continueOnError": True},
            ],
        }
    )
    await wf.run(tracer_provider=traced.provider)
    assert traced.names() == ["group g", "run short", "step bad"]  # failures always
    g, run = traced.one("group g").attributes, traced.one("run short").attributes
    assert g is not None
    assert g["plait.short_steps"] == 2
    assert run is not None
    assert run["plait.short_steps"] == 1


async def test_sample_ratio_zero_traces_nothing(traced: Traced) -> None:
    wf = plait.Workflow.from_dict(
        {"name": "unsampled", "tracing": {"sampleRatio": 0}, "steps": [{"id": "a", "tool": "noop"}]}
    )
    result = await wf.run(tracer_provider=traced.provider, store="memory://")
    assert result.status.value == "succeeded"
    assert traced.spans == ()


async def test_the_trace_id_is_kept_on_the_run_row(traced: Traced, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    wf = plait.Workflow.from_dict({"name": "kept", "steps": [{"id": "a", "tool": "noop"}]})
    result = await wf.run(tracer_provider=traced.provider, store=db)
    root = traced.one("run kept")
    record = open_store(str(db)).get_run(result.run_id)
    assert record.trace_id == format(root.context.trace_id, "032x")
    assert record.root_span_id == format(root.context.span_id, "016x")


PAUSING = {
    "name": "approve",
    "steps": [
        {"id": "draft", "tool": "echo", "input": "notes"},
        {"id": "approval", "wait": "approved", "dependsOn": "draft"},
        {"id": "publish", "tool": "echo", "input": "${approval.output}"},
    ],
}


async def test_a_resumed_run_goes_on_in_the_same_trace(traced: Traced, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    wf = plait.Workflow.from_dict(PAUSING)
    paused = await wf.run(tracer_provider=traced.provider, store=db)
    assert paused.status.value == "paused"
    (first,) = traced.named("run approve")
    resumed_result = await plait.resume(
        paused.run_id,
        store=db,
        workflow=wf,
        signals={"approved": "ann"},
        tracer_provider=traced.provider,
    )
    assert resumed_result.status.value == "succeeded"
    roots = sorted(traced.named("run approve"), key=lambda s: s.start_time or 0)
    assert roots[0] is first or roots[0].context == first.context
    second = roots[1]
    assert second.parent is None  # a new root ...
    assert second.context.trace_id == first.context.trace_id  # ... in the same trace
    (link,) = second.links
    assert link.context.span_id == first.context.span_id
    assert link.context.trace_id == first.context.trace_id
    assert second.attributes is not None
    assert second.attributes["plait.resumed"] is True
    publish = traced.one("step publish")
    assert traced.parent_of(publish) is second
    assert publish.context.trace_id == first.context.trace_id
    assert first.attributes is not None
    assert first.attributes["plait.status"] == "paused"
    record = open_store(str(db)).get_run(paused.run_id)
    assert record.trace_id == format(first.context.trace_id, "032x")  # unchanged


async def test_the_http_tool_sends_the_step_spans_traceparent(
    traced: Traced, server: LocalServer
) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "calls",
            "steps": [{"id": "get", "tool": "http", "input": {"url": f"{server.url}/echo"}}],
        }
    )
    result = await wf.run(tracer_provider=traced.provider)
    headers = result.steps["get"].output["json"]["headers"]
    span = traced.one("step get")
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    flags = int(span.context.trace_flags)
    assert flags & 1  # sampled
    assert headers["traceparent"] == f"00-{trace_id}-{span_id}-{flags:02x}"
    assert span.attributes is not None
    assert span.attributes["plait.status"] == "succeeded"
    assert traced.parent_of(span) is traced.one("run calls")


async def test_no_traceparent_without_tracing(server: LocalServer) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "calls",
            "steps": [{"id": "get", "tool": "http", "input": {"url": f"{server.url}/echo"}}],
        }
    )
    result = await wf.run()
    assert "traceparent" not in result.steps["get"].output["json"]["headers"]


async def test_plaits_log_records_carry_trace_and_span_ids(
    traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "logged",
            "steps": [
                {"id": "a", "tool": "noop"},
                {"id": "g", "parallelGroup": {"steps": ["a"]}},
            ],
        }
    )
    with caplog.at_level(logging.DEBUG, logger="plait"):
        await wf.run(tracer_provider=traced.provider)
    root, group = traced.one("run logged"), traced.one("group g")
    trace_id = format(root.context.trace_id, "032x")
    started = [r for r in caplog.records if getattr(r, "event", None) == "group_started"]
    granted = [r for r in caplog.records if getattr(r, "event", None) == "slot_granted"]
    assert started
    assert granted
    for record in started + granted:
        assert record.trace_id == trace_id  # type: ignore[attr-defined]
    assert started[0].span_id == format(group.context.span_id, "016x")  # type: ignore[attr-defined]
    assert granted[0].span_id == format(root.context.span_id, "016x")  # type: ignore[attr-defined]


async def test_log_records_of_an_untraced_run_have_no_trace_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wf = plait.Workflow.from_dict(
        {"name": "plain", "steps": [{"id": "a", "tool": "noop"}]},
    )
    with caplog.at_level(logging.DEBUG, logger="plait"):
        await wf.run()
    assert caplog.records
    assert not any(hasattr(r, "trace_id") for r in caplog.records)


NOT_IMPORTED = """
import asyncio, sys
import plait
wf = plait.Workflow.from_dict({"name": "w", "steps": [
    {"id": "a", "tool": "noop"},
    {"id": "g", "parallelGroup": {"steps": ["a"]}},
    {"id": "h", "tool": "http", "input": {"url": "http://127.0.0.1:9/"},
     "continueOnError": True},
]})
result = asyncio.run(wf.run(store="memory://"))
assert result.steps["a"].status.value == "succeeded", result.status
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "prometheus_client")))
print(",".join(loaded) or "none")
"""


def test_a_run_without_tracing_never_imports_opentelemetry() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NOT_IMPORTED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_plait_run_trace_exports_to_the_console_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text("name: cli\nsteps:\n  - {id: a, tool: noop}\n")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "plait-test")
    db = tmp_path / "runs.db"
    runner = CliRunner()
    done = runner.invoke(app, ["run", str(file), "--trace", "--json", "--store", str(db)])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)  # stdout holds the run document alone
    assert document["status"] == "succeeded"
    assert '"name": "run cli"' in done.stderr
    assert '"name": "step a"' in done.stderr
    assert '"service.name": "plait-test"' in done.stderr
    record = open_store(str(db)).get_run(document["run_id"])
    assert record.trace_id is not None
    assert record.trace_id in done.stderr


def test_plait_run_trace_names_a_missing_exporter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text("name: cli\nsteps:\n  - {id: a, tool: noop}\n")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "nosuchexporter")
    done = CliRunner().invoke(app, ["run", str(file), "--trace", "--store", "memory://"])
    assert done.exit_code == 2
    assert "OTEL_TRACES_EXPORTER names 'nosuchexporter', which is not installed" in done.stderr
    assert "Traceback" not in done.output


def test_plait_resume_trace_goes_on_in_the_same_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "approve.json"
    file.write_text(json.dumps(PAUSING))
    db = str(tmp_path / "runs.db")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(file), "--trace", "--json", "--store", db])
    assert first.exit_code == 0, first.output
    run_id = json.loads(first.stdout)["run_id"]
    record = open_store(db).get_run(run_id)
    assert record.trace_id is not None
    assert record.root_span_id is not None
    again = runner.invoke(
        app, ["resume", run_id, "--trace", "--json", "--store", db, "--input", "approved=ann"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["status"] == "succeeded"
    assert '"name": "step publish"' in again.stderr
    assert f'"trace_id": "0x{record.trace_id}"' in again.stderr  # the same trace
    assert f'"span_id": "0x{record.root_span_id}"' in again.stderr  # the link to the first


def test_tracing_without_opentelemetry_installed_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, traced: Traced
) -> None:
    import plait.observability as observability

    monkeypatch.setattr(observability.importlib.util, "find_spec", lambda name: None)
    wf = plait.Workflow.from_dict({"name": "w", "steps": [{"id": "a", "tool": "noop"}]})
    with pytest.raises(plait.WorkflowError, match=r"pip install 'plait\[otel\]'"):
        wf.create_run(tracer_provider=traced.provider)
    with pytest.raises(plait.WorkflowError, match=r"pip install 'plait\[prometheus\]'"):
        wf.create_run(metrics=object())  # type: ignore[arg-type]


async def test_a_step_refused_by_a_full_pool_is_an_error_span(traced: Traced) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "full",
            "pools": {"one": {"maxConcurrent": 1, "queueSize": 0}},
            "steps": [
                {"id": "a", "tool": "sleep", "input": {"duration": "50ms"}, "pool": "one"},
                {"id": "b", "tool": "noop", "pool": "one", "continueOnError": True},
            ],
        }
    )
    result = await wf.run(tracer_provider=traced.provider)
    assert result.steps["b"].error is not None
    assert result.steps["b"].error["type"] == "PoolFull"
    b = traced.one("step b")
    assert b.status.status_code is StatusCode.ERROR
    assert b.attributes is not None
    assert b.attributes["plait.attempt"] == 0
    assert b.attributes["error.type"] == "PoolFull"
    assert traced.one("step a").status.status_code is StatusCode.UNSET
