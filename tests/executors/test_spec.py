"""The ``executor`` and ``isolation`` keys as written: the forms accepted, the errors
(with file, step and key), and what the compiled plan carries for each step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import plait
from executors.conftest import py, workflow
from plait.compiler.placement import PROCESS
from plait.definition.executor import LOCAL, ExecutorSpec

Write = Callable[[str, str], Path]


@pytest.mark.parametrize(
    ("given", "spec"),
    [
        ("local", LOCAL),
        ("process", PROCESS),
        ("dask", ExecutorSpec("dask")),
        ("dask://10.0.0.5:8786", ExecutorSpec("dask", address="tcp://10.0.0.5:8786")),
        ("tls://sched:8786", ExecutorSpec("dask", address="tls://sched:8786")),
        ({"type": "process", "workers": 4}, ExecutorSpec("process", workers=4)),
        (
            {"type": "dask", "address": "sched:8786", "maxInFlight": 50},
            ExecutorSpec("dask", address="tcp://sched:8786", max_in_flight=50),
        ),
        ({"address": "tcp://h:1", "max_in_flight": 5}, ExecutorSpec("dask", "tcp://h:1", 5)),
    ],
)
def test_an_executor_is_a_string_or_a_mapping(given: object, spec: ExecutorSpec) -> None:
    assert ExecutorSpec.parse(given) == spec


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("gpu", "unknown executor 'gpu'; use 'local', 'process', 'dask' or 'dask://HOST:PORT'"),
        ("dask://", "write the scheduler as dask://HOST:PORT"),
        ({"type": "gpu"}, "executor 'type' must be one of local, process, dask, not 'gpu'"),
        ({"type": "process", "adress": "x"}, "unknown key 'adress' in executor"),
        ({"type": "process", "address": "h:1"}, "'address' goes with type 'dask'"),
        ({"type": "local", "maxInFlight": 3}, "'maxInFlight' goes with type 'dask'"),
        ({"type": "dask", "maxInFlight": 0}, "'max_in_flight' must be 1 or more"),
        ({"type": "dask", "address": "h:1", "workers": 2}, "a cluster at an 'address'"),
        (3, "not int"),
    ],
)
def test_a_bad_executor_says_what_is_accepted(given: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExecutorSpec.parse(given)


def test_a_bad_executor_in_a_file_names_the_file_step_and_key(write: Write) -> None:
    path = write(
        "wf.yaml",
        """\
        name: w
        executor: gpu
        steps:
          - {id: a, tool: noop, executor: {type: process, adress: x}}
          - {id: b, tool: noop, isolation: thread}
        """,
    )
    with pytest.raises(plait.ValidationError) as info:
        plait.load(path)
    found = {(p.step, p.key): p.message for p in info.value.problems}
    assert set(found) == {(None, "executor"), ("a", "executor"), ("b", "isolation")}
    assert all(p.file == str(path) for p in info.value.problems)
    assert "unknown executor 'gpu'" in found[(None, "executor")]


def test_misplaced_executor_and_isolation_keys_are_problems() -> None:
    inline = py("inline", "pid")
    inline["input"]["isolation"] = "thread"  # type: ignore[index]
    wf = workflow(
        {"id": "g", "parallelGroup": {"steps": ["x"]}, "executor": "process"},
        {"id": "x", "tool": "noop"},
        {"id": "sw", "switch": [{"default": "x2"}], "isolation": "process"},
        {"id": "x2", "tool": "noop"},
        inline,
        py("both", "pid", isolation="process", executor="dask"),
    )
    with pytest.raises(plait.ValidationError) as info:
        wf.validate()
    assert {(p.step, p.key) for p in info.value.problems} == {
        ("g", "executor"),
        ("sw", "isolation"),
        ("inline", "input.isolation"),
        ("both", "isolation"),
    }


def test_the_plan_carries_each_steps_choice_and_a_map_passes_its_own_on() -> None:
    inline = py("inline", "pid")
    inline["input"]["isolation"] = "process"  # type: ignore[index]
    plan = workflow(
        py("plain", "pid"),
        py("keyed", "pid", isolation="process"),
        inline,
        py("pinned", "pid", executor="local"),
        {"id": "m", "executor": "dask", "parallel": {"count": 2, "steps": [py("s", "pid")]}},
        executor={"type": "process", "workers": 2},
    ).plan
    chosen = {node.id: node.executor for node in plan.nodes}
    assert chosen == {
        "plain": None,  # the run's choice, else the workflow's
        "keyed": PROCESS,
        "inline": PROCESS,
        "pinned": LOCAL,
        "m": ExecutorSpec("dask"),
    }
    body = plan.node("m").body
    assert body is not None
    assert body.node("s").executor == ExecutorSpec("dask")
    assert plan.executor == ExecutorSpec("process", workers=2)
