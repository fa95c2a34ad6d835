"""The ``shell`` tool: run a command, with no shell unless asked for.

``command`` is an argv list, so a ``${...}`` value is one argument and can never inject
a second command; a string runs through ``/bin/sh -c`` only with ``shell: true``. The
command runs in its own process group: a timeout or a cancellation kills the whole
group (the command and anything it started), and the step waits until it is gone.

What it keeps of a stream, and the tail of stderr it quotes in an error, are masked
before they are cut (``ctx.secrets``): a cut falling inside a secret would leave a part
of it that no later mask recognises.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from plait.errors import StepError
from plait.secrets import NO_SECRETS, Secrets
from plait.tools.builtin._args import mapping
from plait.tools.context import StepContext
from plait.tools.registry import Tool

OUTPUT_LIMIT = 1024 * 1024  # bytes kept of stdout and of stderr each
ERROR_TAIL = 2000  # characters of stderr quoted in the error of a failed command


async def shell(value: Any, ctx: StepContext | None = None) -> dict[str, Any]:
    secrets = ctx.secrets if ctx is not None else NO_SECRETS
    args = mapping(value, "shell")
    argv = _argv(args)
    env = _env(args.get("env"))
    stdin = args.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise StepError("shell: 'stdin' must be a string", type="InputError")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=args.get("cwd"),
            env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise StepError(
            f"shell: cannot start {argv[0]!r}: {exc.strerror or exc}",
            type="CommandNotFound" if isinstance(exc, FileNotFoundError) else "OSError",
        ) from None
    # A little more than the limit is read, so that a secret the limit falls inside is
    # there whole, to be masked (see Secrets.head).
    keep = OUTPUT_LIMIT + 4 * secrets.longest  # (4: the most bytes a character takes)
    try:
        (out, out_size), (err, err_size), _ = await asyncio.gather(
            _read_capped(proc.stdout, keep),
            _read_capped(proc.stderr, keep),
            _feed(proc, stdin),
        )
        await proc.wait()
    except BaseException:  # cancelled or timed out: the whole group goes, then we re-raise
        _kill_group(proc.pid)
        await _reap(proc)
        raise
    stderr = _text(err, err_size, "stderr", secrets)
    result = {
        "exit_code": proc.returncode,
        "stdout": _text(out, out_size, "stdout", secrets),
        "stderr": stderr,
    }
    if proc.returncode != 0:
        tail = secrets.tail(stderr, ERROR_TAIL).strip()
        message = f"shell: {argv[0]} exited with status {proc.returncode}"
        raise StepError(
            f"{message}: {tail}" if tail else message,
            type="CommandFailed",
            details={"exit_code": proc.returncode, "stderr": tail},
        )
    return result


def _argv(args: dict[str, Any]) -> list[str]:
    command = args.get("command")
    use_shell = args.get("shell", False)
    if not isinstance(use_shell, bool):
        raise StepError("shell: 'shell' is true or false", type="InputError")
    if isinstance(command, str):
        if not use_shell:
            raise StepError(
                "shell: a string 'command' needs 'shell: true'; or give an argv list, "
                "which no value can inject into",
                type="InputError",
            )
        return ["/bin/sh", "-c", command]
    if (
        isinstance(command, list)
        and command
        and all(isinstance(a, str | int | float) for a in command)
    ):
        return [str(a) for a in command]
    raise StepError(
        "shell: 'command' is a non-empty list of arguments (or a string with 'shell: true')",
        type="InputError",
    )


def _env(extra: Any) -> dict[str, str] | None:
    if extra is None:
        return None
    if not isinstance(extra, dict):
        raise StepError("shell: 'env' is a mapping of names to values", type="InputError")
    return {**os.environ, **{str(k): str(v) for k, v in extra.items()}}


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Wait until the killed process is gone, through any further cancellation.

    A step is often cancelled twice (its timeout fires, then its group or the run
    cancels it too): one shielded wait would give up at the second cancel, leaving the
    process unreaped and its wait pending after the run ended. A SIGKILLed process
    exits promptly, so this wait is short; the caller re-raises its own cancellation.
    """
    waiter = asyncio.ensure_future(proc.wait())
    while not waiter.done():
        with contextlib.suppress(asyncio.CancelledError, ProcessLookupError):
            await asyncio.shield(waiter)


async def _read_capped(stream: asyncio.StreamReader | None, keep: int) -> tuple[bytes, int]:
    """Keep the first ``keep`` bytes; read (and drop) the rest, so a chatty command
    neither blocks on a full pipe nor fills the memory."""
    if stream is None:
        return b"", 0
    kept = bytearray()
    size = 0
    while chunk := await stream.read(65536):
        size += len(chunk)
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
    return bytes(kept), size


async def _feed(proc: asyncio.subprocess.Process, stdin: str | None) -> None:
    if stdin is None or proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(stdin.encode())
        await proc.stdin.drain()
    proc.stdin.close()


def _text(data: bytes, size: int, name: str, secrets: Secrets) -> str:
    """A stream's text: its first ``OUTPUT_LIMIT`` bytes (masked before the cut), and a
    note of the cut."""
    if size <= OUTPUT_LIMIT:
        return data.decode("utf-8", errors="replace")
    # The characters the first OUTPUT_LIMIT bytes hold, out of all that were kept.
    limit = len(data[:OUTPUT_LIMIT].decode("utf-8", errors="replace"))
    text = secrets.head(data.decode("utf-8", errors="replace"), limit)
    return text + f"\n[plait: {name} cut at {OUTPUT_LIMIT} of {size} bytes]"


SHELL = Tool(
    "shell",
    shell,
    is_async=True,
    wants_ctx=True,
    style="input",
    description="run `command` (argv list; a string with `shell: true`)",
)
