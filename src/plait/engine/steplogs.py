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

Which records: those at ``level`` (INFO by default; ``plait run --log-level``) and
above, from any logger, that the logging configuration lets through. When the
application has not configured logging (the root logger has no handler of its own),
``install`` lowers the root logger to ``level`` so that ``logger.info`` reaches the
handler, and the handler hands WARNING and above to ``logging.lastResort`` as Python
would have: what was printed on stderr before is printed still. An application that
configured logging keeps its levels.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from typing import Any

from plait import secrets

__all__ = ["CURRENT", "LIMIT", "StepLog", "StepLogHandler", "install", "set_level", "take"]

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
        if self.alone and last is not None and record.levelno >= last.level:
            if logging.getLogger().handlers == [self]:  # still nobody else's: as Python would
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
        if HANDLER.alone and root.level > HANDLER.level:
            root.setLevel(HANDLER.level)
        root.addHandler(HANDLER)
        _installed = True


def set_level(level: int | str) -> None:
    """Keep records at ``level`` and above (a name such as ``"DEBUG"``, or a number)."""
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}: DEBUG, INFO, WARNING, ERROR")
    HANDLER.setLevel(number)
    root = logging.getLogger()
    if _installed and HANDLER.alone and root.level > number:
        root.setLevel(number)


def take(st: Any) -> str | None:
    """The ended attempt's logs (None if it logged nothing); the next attempt starts
    with none."""
    buffer = st.logs
    if buffer is None:
        return None
    with _lock:
        st.logs = None
    return str(buffer.text()) if isinstance(buffer, StepLog) else str(buffer)
