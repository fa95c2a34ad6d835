"""The ``shell`` tool: run a command, with no shell unless asked for.

``command`` is an argv list, started with ``exec`` (no shell), so a ``${...}`` value is
one argument and can never inject a second command; a string runs through
``/bin/sh -c`` only with ``shell: true``. The command runs in its own process group: a
timeout or a cancellation kills the whole group (the command and anything it started),
and the step waits until it is gone.

Validation (``check_input``, issue 19) refuses what would let a run input choose the
code that runs: a ``${...}`` inside a shell script (``shell: true``, or ``sh -c``), a
``${...}`` as the program, as the whole input, as ``env``'s names, or in a variable that
chooses code (``PATH``, ``LD_PRELOAD``, ``BASH_ENV``...). The safe forms: values in
``env:`` read as ``"$NAME"`` by the script, or elements of an argv list.

What it keeps of a stream, and the tail of stderr it quotes in an error, are masked
before they are cut (``ctx.secrets``): a cut falling inside a secret would leave a part
of it that no later mask recognises.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from plait.errors import StepError
from plait.expressions.template import Template, Whole
from plait.secrets import NO_SECRETS, Secrets
from plait.tools.builtin._args import mapping
from plait.tools.checks import (
    Finding,
    StaticInput,
    elements,
    entries,
    is_dynamic,
    not_a_mapping,
    text_of,
)
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


# -- validation (issue 19) --------------------------------------------------------------

SAFE_FORMS = (
    'pass the value through env: (env: {NAME: "${...}"}, read as "$NAME" in the script) '
    "or give 'command' as an argv list (no shell), where a ${...} is one argument; see "
    "docs/security.md"
)
# Programs that run their first operand as a script: `sh -c "..."` is `shell: true`.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish"})
# Variables that choose code: where programs are found, libraries loaded before main(),
# a script a shell or an interpreter runs first. A run input may not set them.
CODE_VARIABLES = frozenset(
    {
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "DYLD_INSERT_LIBRARIES",
        "DYLD_LIBRARY_PATH",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PERL5LIB",
        "PERL5OPT",
        "RUBYLIB",
        "RUBYOPT",
        "NODE_OPTIONS",
        "GIT_SSH_COMMAND",
    }
)


def check_input(given: StaticInput) -> Iterator[Finding]:
    """What a ``${...}`` may not decide in a ``shell`` step (see the module docstring)."""
    if not given.is_mapping():
        yield not_a_mapping("shell", "command, shell, cwd, env, stdin")
        return
    command = given.get("command")
    if command is not None:
        yield from _check_command(command, given)
    yield from _check_env(given)


def _check_command(command: Template, given: StaticInput) -> Iterator[Finding]:
    argv = elements(command)
    if argv is None:
        if isinstance(command, Whole):
            yield (
                "command",
                "a ${...} cannot be the whole command: a run input would choose the program "
                f"or the script; write the command in the workflow and {SAFE_FORMS}",
            )
        elif is_dynamic(command):
            yield (
                "command",
                f"a ${{...}} inside a shell command string can inject commands; {SAFE_FORMS}",
            )
        return
    parts = list(argv)
    if not parts:
        return
    if is_dynamic(parts[0]):
        yield (
            "command[0]",
            "a ${...} cannot choose the program to run; name it in the workflow and pass "
            "values as the later elements of the list",
        )
        return
    program = text_of(parts[0]) or ""
    if PurePosixPath(program).name in SHELLS:
        yield from _check_shell_script(program, parts)
    relative = "/" in program and not program.startswith("/")
    if relative and is_dynamic(given.get("cwd")):
        yield (
            "cwd",
            f"a ${{...}} in 'cwd' chooses the folder where {program!r} is found, so a run "
            "input would choose the program; write 'cwd' in the workflow or name the program "
            "by an absolute path",
        )


def _check_shell_script(program: str, parts: list[Template]) -> Iterator[Finding]:
    """In ``[sh, -c, SCRIPT, ARG...]`` or ``[sh, FILE, ARG...]`` the first operand is the
    script (text, or the file to run): it must be fixed. The arguments after it are the
    script's "$1", "$2"...: data. A ``${...}`` among the options could be ``-c`` itself."""
    name = PurePosixPath(program).name
    i = 1
    while i < len(parts):
        text = text_of(parts[i])
        if text in ("-o", "+o", "-O", "+O"):  # an option that takes the next element
            i += 2
            continue
        if text is not None and text[:1] in ("-", "+"):
            i += 1
            continue
        if is_dynamic(parts[i]):
            yield (
                f"command[{i}]",
                f"a ${{...}} here is {name}'s script, or an option that makes the next "
                f"element one: it can inject commands, as with shell: true; {SAFE_FORMS}; "
                f'or give it after the script, as "$1": [{name}, -c, \'echo "$1"\', '
                f'{name}, "${{...}}"]',
            )
        return


def _check_env(given: StaticInput) -> Iterator[Finding]:
    env = given.get("env")
    if env is None:
        return
    pairs = entries(env)
    if pairs is None:
        if is_dynamic(env):
            yield (
                "env",
                "'env' is a mapping written in the workflow: names chosen by a run input "
                "could set PATH, LD_PRELOAD or BASH_ENV and so the code that runs; a ${...} "
                "may give the values",
            )
        return
    for name, value in pairs:
        key = str(name)
        if (key in CODE_VARIABLES or key.startswith("BASH_FUNC_")) and is_dynamic(value):
            yield (
                f"env.{key}",
                f"{key} chooses code (the programs found, the libraries loaded, a script run "
                "first); a ${...} may not set it: write its value in the workflow",
            )


SHELL = Tool(
    "shell",
    shell,
    is_async=True,
    wants_ctx=True,
    style="input",
    description="run `command` (argv list; a string with `shell: true`)",
    check=check_input,
    inputs={
        "command": "string|list",
        "shell": "boolean",
        "env": "mapping",
        "stdin": "string",
        "cwd": "string",
    },
)
