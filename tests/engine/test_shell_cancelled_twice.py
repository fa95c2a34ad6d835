"""A shell step cancelled again while it waits for its killed process still reaps it.

Found by tests/properties: a step whose timeout fired was cancelled a second time by its
group (``any`` won elsewhere); the tool's single shielded wait gave up, the run ended
with the process unreaped and its ``Process.wait()`` task still pending on the loop.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from plait.tools.builtin.shell import shell


async def test_repeated_cancels_do_not_leave_the_killed_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # The pid is written once the tool has fed stdin: it is past starting the process,
    # reading its output.
    script = f"read x; echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 30"
    task = asyncio.ensure_future(shell({"command": script, "shell": True, "stdin": "go\n"}))
    async with asyncio.timeout(30):  # an upper bound only: the file appears at once
        while not pid_file.exists():  # noqa: ASYNC110 - a file another process writes
            await asyncio.sleep(0.005)
    pid = int(pid_file.read_text())
    # Cancel at every turn of the loop until the step is over: cancels land while the
    # tool waits for the process it killed.
    cancels = 0
    while not task.done():
        task.cancel()
        cancels += 1
        await asyncio.sleep(0)
    assert task.cancelled()
    assert cancels > 1
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert left == []
    # Reaped, not a zombie: the pid no longer exists at all.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"process {pid} is still there")
