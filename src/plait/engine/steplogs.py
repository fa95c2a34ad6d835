"""What a step's own code logs, kept with the attempt that logged it (issue 13).

One ``logging.Handler`` on the root logger, installed once when the first run starts.
The engine sets ``CURRENT`` to the step's state around each tool call (``tasks._call``:
the only cost on the hot path); a record emitted inside that call — on the step's
task, in a task it started, or in its thread (``LocalExecutor.run_in_thread`` runs the
function in a copy of the caller's context) — is formatted and appended to the
step's ``logs`` buffer. A record emitted outside any step is not kept::

    tasks._call:  CURRENT.set(st) ─ tool(...) ─ logger.info("...") ─ CURRENT.reset
                                                   └─▶ StepLogHandler ─▶ st.logs

The recorder takes the buffer when the attempt ends (``take``): masked for the
secrets of the runs in progress, then cut at ``LIMIT`` characters with a note saying
how much was dropped (masked first, so a cut never leaves part of a secret).

Which records: INFO and above, from any logger. The ``plait`` command owns its
process: it keeps records at ``$PLAIT_LOG_LEVEL`` (INFO by default) and above,
lowering the root logger to that level (``capture_for_process``). In an application
that runs workflows from Python, its logging configuration decides: when it has not
configured logging (the root logger has no handler of its own), ``install`` lowers
the root logger to INFO so that ``logger.info`` reaches the handler; one that did
keeps its levels (``logging.getLogger().setLevel(logging.INFO)`` to keep INFO). In
both, the handler hands WARNING and above to ``logging.lastResort`` while it is the
root logger's only handler, as Python would have: what was printed on stderr before
is printed still.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from typing import Any

from plait import secrets

__all__ = [
    "CURRENT",
    "LIMIT",
    "StepLog",
    "StepLogHandler",
    "capture_for_process",
    "install",
    "level_named",
    "take",
]

LIMIT = 1024 * 1024  # characters kept of one attempt's logs
# Read a little past the limit, so a secret the cut falls into can be masked whole.
_SLACK = 64 * 1024
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

CURRENT: ContextVar[Any] = ContextVar("plait_step", default=None)


class StepLog:
    """One attempt's log lines while it runs (appended from the loop or a thread)."""

    __slots__ = ("dropped", "lines", "size")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.dropped = 0  # characters not kept once past LIMIT + _SLACK

    def add(self, line: str) -> None:
        if self.size > LIMIT + _SLACK:
            self.dropped += len(line) + 1
            return
        self.lines.append(line)
        self.size += len(line) + 1

    def text(self) -> str:
        """The lines, masked, then cut at ``LIMIT`` with a note when anything was cut."""
        whole = "\n".join(self.lines)
        masker = secrets.active()
        kept = masker.head(whole, LIMIT) if masker else whole[:LIMIT]
        masked_len = len(masker.text(whole)) if masker else len(whole)
        cut = masked_len - len(kept) + self.dropped
        if cut > 0:
            kept += f"\n[plait: logs cut at {LIMIT:,} characters; {cut:,} more not kept]"
        return kept


_lock = threading.Lock()


class StepLogHandler(logging.Handler):
    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(FORMAT))
        self.alone = False  # the root logger had no other handler when installed

    def handle(self, record: logging.LogRecord) -> bool:
        st = CURRENT.get()
        if st is not None and record.levelno >= self.level:
            self._keep(st, record)
        last = logging.lastResort
        # While it is the root's only handler, WARNING and above go on stderr as before.
        alone = self.alone and logging.getLogger().handlers == [self]
        if alone and last is not None and record.levelno >= last.level:
            last.handle(record)
        return True

    def _keep(self, st: Any, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad format string: say so, never fail the step over it
            line = f"[plait: could not format a log record from {record.name}]"
        with _lock:
            buffer = st.logs
            if buffer is None:
                buffer = st.logs = StepLog()
            elif not isinstance(buffer, StepLog):
                return  # the step has ended (a thread it left behind logs on): not kept
            buffer.add(line)

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


HANDLER = StepLogHandler()
_installed = False


def install() -> None:
    """Put the handler on the root logger (once per process)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        root = logging.getLogger()
        HANDLER.alone = not root.handlers
        if HANDLER.alone:
            _lower_root(HANDLER.level)
        root.addHandler(HANDLER)
        _installed = True


LEVEL_VAR = "PLAIT_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def level_named(name: str) -> int:
    """A level's number from its name (``DEBUG``...); ``ValueError`` naming the choices."""
    if name.strip().upper() not in LEVELS:
        raise ValueError(f"{LEVEL_VAR}={name!r} is not a log level: {', '.join(LEVELS)}")
    return int(getattr(logging, name.strip().upper()))


def capture_for_process(level: int = logging.INFO) -> None:
    """For the ``plait`` command, which owns its process: keep records at ``level`` and
    above whatever the logging configuration says (the root logger is lowered to it)."""
    install()
    HANDLER.setLevel(level)
    _lower_root(level)


def _lower_root(level: int) -> None:
    """Let records at ``level`` reach the root logger's handlers, without changing what
    plait's own loggers emit: they stay at the level they had (their INFO records are
    for whoever configures them, and cost the engine a little per group)."""
    root = logging.getLogger()
    before = root.getEffectiveLevel()
    if before <= level:
        return
    own = logging.getLogger("plait")
    if own.level == logging.NOTSET:
        own.setLevel(before)
    root.setLevel(level)


def take(st: Any) -> str | None:
    """The ended attempt's logs (None if it logged nothing); the next attempt starts
    with none."""
    buffer = st.logs
    if buffer is None:
        return None
    with _lock:
        st.logs = None
    return str(buffer.text()) if isinstance(buffer, StepLog) else str(buffer)
