"""The built-in tools of SPEC §6: noop, echo, sleep, fail, python."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import plait


def _wf(*steps: dict[str, object], file: str | None = None) -> plait.Workflow:
    return plait.Workflow.from_dict({"name": "tools", "steps": list(steps)}, file=file)


async def test_noop_and_echo() -> None:
    result = await _wf(
        {"id": "n", "tool": "noop", "input": {"anything": 1}},
        {"id": "e", "tool": "echo", "input": {"a": [1, {"b": None}], "s": "x"}},
    ).run()
    assert result.steps["n"].output is None
    assert result.steps["e"].output == {"a": [1, {"b": None}], "s": "x"}


@pytest.mark.looptime
async def test_sleep_waits_then_outputs() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await _wf({"id": "s", "tool": "sleep", "input": {"duration": "3s", "output": 7}}).run()
    assert loop.time() - start == pytest.approx(3, abs=0.01)
    assert result.steps["s"].output == 7


@pytest.mark.looptime
async def test_fail_after_delay_with_type() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await _wf(
        {"id": "f", "tool": "fail", "input": {"message": "nope", "type": "Quota", "after": 1500}}
    ).run()
    assert loop.time() - start == pytest.approx(1.5, abs=0.01)
    error = result.steps["f"].error
    assert error is not None
    assert (error.type, error.message, error.step) == ("Quota", "nope", "f")


async def test_bad_builtin_input_fails_the_step_with_a_clear_error() -> None:
    # written in the workflow, it is refused at validation (tests/compiler/test_positions.py);
    # given by a ${...}, it is checked when the step runs
    wf = plait.Workflow.from_dict(
        {
            "name": "tools",
            "inputs": {"d": {"type": "string"}},
            "steps": [{"id": "s", "tool": "sleep", "input": {"duration": "${inputs.d}"}}],
        }
    )
    result = await wf.run({"d": "soon"})
    error = result.steps["s"].error
    assert error is not None
    assert error["type"] == "InputError"
    assert "'duration'" in error["message"]


def _write_module(folder: Path) -> None:
    (folder / "helpers_for_python_tool.py").write_text(
        "import asyncio, threading\n"
        "def add(a, b):\n"
        "    return {'sum': a + b, 'thread': threading.current_thread().name}\n"
        "async def twice(x):\n"
        "    await asyncio.sleep(0)\n"
        "    return [x, x]\n"
        "def boom():\n"
        "    raise KeyError('missing')\n"
    )


async def test_python_tool_imports_from_the_workflow_folder(tmp_path: Path) -> None:
    _write_module(tmp_path)
    wf = _wf(
        {
            "id": "sync",
            "tool": "python",
            "input": {"function": "helpers_for_python_tool:add", "args": {"a": 2, "b": 3}},
        },
        {
            "id": "async",
            "tool": "python",
            "input": {"function": "helpers_for_python_tool:twice", "args": ["x"]},
        },
        {"id": "raises", "tool": "python", "input": {"function": "helpers_for_python_tool:boom"}},
        {"id": "missing", "tool": "python", "input": {"function": "no_such_module_xyz:f"}},
        file=str(tmp_path / "wf.yaml"),
    )
    result = await wf.run()
    sync_out = result.steps["sync"].output
    assert sync_out["sum"] == 5
    assert sync_out["thread"] != threading.current_thread().name  # a worker thread
    assert sync_out["thread"].startswith("plait-step")
    assert result.steps["async"].output == ["x", "x"]
    assert result.steps["raises"].error is not None
    assert result.steps["raises"].error["type"] == "KeyError"
    assert result.steps["missing"].error is not None
    assert result.steps["missing"].error["type"] == "ImportError"


async def test_registered_sync_tool_runs_in_a_thread_and_async_on_the_loop() -> None:
    @plait.tool("where_sync")
    def where_sync() -> str:
        return threading.current_thread().name

    @plait.tool("where_async")
    async def where_async(ctx: plait.StepContext) -> str:
        return f"{threading.current_thread().name}:{ctx.step_id}:{ctx.attempt}"

    result = await _wf({"id": "s", "tool": "where_sync"}, {"id": "a", "tool": "where_async"}).run()
    assert result.steps["s"].output.startswith("plait-step")
    assert result.steps["a"].output == f"{threading.current_thread().name}:a:1"


async def test_timed_out_thread_step_frees_its_slot_and_discards_its_result() -> None:
    release = threading.Event()
    finished = threading.Event()

    @plait.tool("blocking_for_timeout")
    def blocking() -> str:
        release.wait(10)
        finished.set()
        return "late"

    wf = _wf(
        {"id": "block", "tool": "blocking_for_timeout", "timeout": "50ms", "continueOnError": True},
        {"id": "next", "tool": "echo", "input": "ran", "dependsOn": ["block"]},
    )
    run = wf.create_run()
    result = await run.execute()
    assert result.steps["block"].status is plait.StepStatus.TIMED_OUT
    assert result.steps["next"].output == "ran"
    assert run.pools["default"].active == 0
    release.set()
    assert await asyncio.to_thread(finished.wait, 10)
    assert result.steps["block"].output is None  # the late result was discarded


async def test_run_resources_are_closed_when_the_run_ends() -> None:
    closed: list[str] = []

    class Pool:
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    class Broken:
        def close(self) -> None:
            closed.append("broken")
            raise OSError("already gone")

    async def uses(ctx: plait.StepContext) -> str:
        ctx.resources.setdefault("http", Pool("http"))
        ctx.resources.setdefault("db", Broken())
        assert closed == []  # nothing closed while the run goes on
        return "ok"

    wf = plait.Workflow("res").task("a", uses)
    result = await wf.run()
    assert result.status == "succeeded"
    assert closed == ["broken", "http"]  # newest first; a failing close does not fail the run
