"""What every ``plait`` command shares: the consoles and exit statuses, the ``--store``
and ``--json`` options, errors in one line, and JSON that is JSON (RFC 8259).

Exit status: 0 the command did its job (a run succeeded or paused); 1 a run failed,
timed out or was cancelled; 2 the file, the command line or the store cannot be used
(nothing was run). A usage error (an unknown option, ``--limit abc``) is one line too:

    error: Invalid value for '--limit': ... (see 'plait runs list --help')
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from plait.errors import StoreError
from plait.store import Store, open_store, store_url

EXIT_OK, EXIT_RUN_FAILED, EXIT_INVALID = 0, 1, 2

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="PLAIT_STORE",
        help="Where runs are recorded: a file path (SQLite), postgresql://..., or memory://. "
        "Default: .plait/plait.db here.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def error_line(message: str) -> None:
    """``error: MESSAGE`` on stderr, one line however long (text, never markup: a
    user's ``[/x]`` would break or vanish as markup)."""
    err.print(Text.assemble(("error", "red"), f": {message}"), soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """One line on stderr; raise what this returns to exit with status 2."""
    error_line(message)
    return typer.Exit(EXIT_INVALID)


def open_store_or_exit(url: str | None) -> Store:
    """The store ``--store`` names (else ``$PLAIT_STORE``, else the default), or one
    line and exit status 2."""
    if url is not None and not url.strip():
        raise fail(
            "--store is empty: give a file path, sqlite:///PATH, postgresql://..., or memory://"
        )
    try:
        return open_store(store_url(url))
    except StoreError as exc:
        raise fail(exc.plain) from None


# -- JSON --------------------------------------------------------------------------------


def json_text(value: Any) -> str:
    """``value`` as JSON text that any JSON parser reads (RFC 8259).

    JSON has no NaN or Infinity; Python's encoder would write them as bare ``NaN`` and
    ``Infinity``, which ``jq`` and most parsers refuse. They are written as ``null``,
    as JavaScript's ``JSON.stringify`` does (a dictionary key becomes ``"NaN"``,
    ``"Infinity"`` or ``"-Infinity"``). What JSON cannot hold otherwise is written as
    text: a set or tuple as a list, bytes decoded, any other object as its repr.
    """
    try:
        return json.dumps(value, allow_nan=False, default=_json_default)
    except ValueError:  # a NaN or an infinity somewhere: the rare path walks the value
        return json.dumps(_finite(value), allow_nan=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return repr(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_finite_key(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_finite(item) for item in value]
    return value


def _finite_key(key: Any) -> Any:
    if isinstance(key, float) and not math.isfinite(key):
        return "NaN" if math.isnan(key) else ("Infinity" if key > 0 else "-Infinity")
    return key


def print_json(value: Any) -> None:
    """One line of JSON on stdout."""
    sys.stdout.write(json_text(value) + "\n")
    sys.stdout.flush()


# -- usage errors in one line ----------------------------------------------------------------


class OneLineErrors(TyperGroup):
    """The ``plait`` group: a usage error (click's ``UsageError``: an unknown option, a
    value out of range) is one line on stderr and exit status 2, not click's usage
    block and boxed message."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except _USAGE_ERRORS as exc:
            _usage_error(exc)
        except typer.Abort:
            error_line("aborted")
            sys.exit(EXIT_RUN_FAILED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's errors: typer's own copy of click (``TyperException``, typer 0.2x), and
    click itself if installed (what older typer used)."""
    found: list[type[Exception]] = []
    vendored = getattr(typer, "TyperException", None)
    if isinstance(vendored, type) and issubclass(vendored, Exception):
        found.append(vendored)
    with contextlib.suppress(ImportError):
        import click

        found.append(click.ClickException)
    return tuple(found)


_USAGE_ERRORS = _usage_errors()


def _usage_error(exc: Exception) -> NoReturn:
    # `plait` alone prints its help (on stdout) and exits 2: nothing more to say.
    if type(exc).__name__ != "NoArgsIsHelpError":
        format_message = getattr(exc, "format_message", None)
        text = format_message() if callable(format_message) else str(exc)
        message = " ".join(str(text).replace("Value error, ", "").split())
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            message += f" (see '{ctx.command_path} --help')"
        error_line(message)
    code = getattr(exc, "exit_code", EXIT_INVALID)
    sys.exit(code if isinstance(code, int) else EXIT_INVALID)
