"""The one timer kind (``engine/deadlines.py``), on looptime's fake clock: exact times,
no wall time."""

from __future__ import annotations

import asyncio

import pytest

from plait.engine.deadlines import DeadlineExpired, Deadlines, within

pytestmark = pytest.mark.looptime


async def test_a_deadline_fires_once_at_its_time_and_says_so() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    deadlines = Deadlines()
    deadline = deadlines.after(5.0, lambda: fired.append(loop.time()))
    assert deadline.pending
    assert not deadline.fired
    assert len(deadlines) == 1
    await asyncio.sleep(10)
    assert fired == [5.0]
    assert deadline.fired
    assert not deadline.pending
    assert len(deadlines) == 0  # a fired deadline is no longer live


async def test_a_cancelled_deadline_never_fires() -> None:
    fired: list[str] = []
    deadlines = Deadlines()
    deadline = deadlines.after(1.0, fired.append, "x")
    deadline.cancel()
    deadline.cancel()  # twice is harmless
    await asyncio.sleep(2)
    assert fired == []
    assert not deadline.fired
    assert len(deadlines) == 0


async def test_cancel_all_stops_every_pending_deadline_of_a_run() -> None:
    fired: list[int] = []
    deadlines = Deadlines()
    early = deadlines.after(1.0, fired.append, 1)
    for n in (2, 3, 4):
        deadlines.after(float(n), fired.append, n)
    await asyncio.sleep(1.5)
    deadlines.cancel_all()
    await asyncio.sleep(10)
    assert fired == [1]
    assert early.fired
    assert len(deadlines) == 0


async def test_within_tells_its_own_expiry_from_the_calls_timeout_error() -> None:
    async def slow() -> str:
        await asyncio.sleep(10)
        return "late"

    async def raises_timeout() -> str:
        raise TimeoutError("the tool's own")

    async def quick() -> str:
        return "ok"

    with pytest.raises(DeadlineExpired) as info:
        await within(2.0, slow)
    assert info.value.limit == 2.0
    assert asyncio.get_running_loop().time() == 2.0  # it stopped the call at its limit
    with pytest.raises(TimeoutError, match="the tool's own"):
        await within(2.0, raises_timeout)
    assert await within(None, quick) == "ok"
    assert await within(2.0, quick) == "ok"


async def test_a_pause_stops_the_timers_of_groups_maps_and_waits_all_the_way_down() -> None:
    import plait

    wf = plait.Workflow.from_dict(
        {
            "name": "pausing",
            "steps": [
                {
                    "id": "fan",
                    "timeout": "100s",
                    "parallel": {
                        "items": [1, 2],
                        "steps": [{"id": "hold", "wait": {"signal": "go"}, "timeout": "50s"}],
                    },
                },
                {"id": "g", "parallelGroup": {"steps": ["w"], "timeout": "70s"}},
                {"id": "w", "wait": {"signal": "go"}, "timeout": "60s"},
            ],
        }
    )
    run = wf.create_run()
    result = await run.execute()
    assert result.status is plait.RunStatus.PAUSED
    assert run.waiting_for == ["go"]
    assert len(run._session.deadlines) == 0  # nothing may fire after the run ended
    await asyncio.sleep(200)  # past every timeout: a live timer would fire now
    assert result.steps["fan"].status is plait.StepStatus.RUNNING
    assert asyncio.get_running_loop().time() == 200.0
