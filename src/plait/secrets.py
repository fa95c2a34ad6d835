"""Masking: values read from ``${env.NAME}`` never leave the process in clear.

A run knows its secrets (the values of the environment variables it was allowed to
read, unless declared ``secret: false``) before it starts. Whatever it writes out goes
through a ``Secrets``: the records and events in the store (as JSON text), the run
document, the terminal's table, and the records of plait's loggers. Each occurrence of
a secret becomes ``***``. The step itself still sees the real value: an HTTP header
built from ``${env.TOKEN}`` is sent as given, and recorded as ``Bearer ***``.

Values shorter than ``MIN_LENGTH`` characters are not masked: masking ``1`` or ``eu``
would garble every record while protecting nothing worth the name.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_LENGTH = 4


class Secrets:
    """The secrets of one run, and the functions that mask them out of data and text."""

    __slots__ = ("_json", "_pattern", "values")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = frozenset(v for v in values if len(v) >= MIN_LENGTH)
        # Longest first, so that a secret containing another is masked whole.
        ordered = sorted(self.values, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        # In JSON text a secret appears escaped (quotes, backslashes, non-ASCII).
        escaped = sorted({json.dumps(v)[1:-1] for v in ordered}, key=len, reverse=True)
        self._json = re.compile("|".join(map(re.escape, escaped))) if escaped else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def json_text(self, text: str | None) -> str | None:
        """Mask JSON text as written to the store (secrets appear JSON-escaped in it)."""
        if self._json is None or text is None:
            return text
        return self._json.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A copy of ``value`` with every string masked (keys of mappings included)."""
        if self._pattern is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


NO_SECRETS = Secrets()


class SecretsFilter(logging.Filter):
    """Masks the secrets of every run in progress out of log records (message and args).

    Installed on plait's loggers (``plait``, ``plait.tools``, ``plait.pool``,
    ``plait.parallel``, ``plait.engine``) by ``register``; costs nothing while no running
    run has a secret."""

    def __init__(self) -> None:
        super().__init__("plait.secrets")
        self._lock = threading.Lock()
        self._active: dict[int, Secrets] = {}
        self._all = NO_SECRETS

    def register(self, key: int, secrets: Secrets) -> None:
        with self._lock:
            self._active[key] = secrets
            self._rebuild()

    def unregister(self, key: int) -> None:
        with self._lock:
            if self._active.pop(key, None) is not None:
                self._rebuild()

    def _rebuild(self) -> None:
        self._all = Secrets(v for s in self._active.values() for v in s.values)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._all
        if not secrets:
            return True
        message = record.getMessage()
        masked = secrets.text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and isinstance(value, str | dict | list):
                setattr(record, key, secrets.value(value))
        return True


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
LOGGERS = ("plait", "plait.tools", "plait.pool", "plait.parallel", "plait.engine")
FILTER = SecretsFilter()


def register(key: int, secrets: Secrets) -> None:
    """Mask ``secrets`` in plait's log records until ``unregister(key)``."""
    if not secrets:
        return
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
    FILTER.register(key, secrets)


def unregister(key: int) -> None:
    FILTER.unregister(key)
