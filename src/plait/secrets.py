"""Masking: values read from ``${env.NAME}`` never leave the process in clear.

A run knows its secrets (the values of the environment variables it was allowed to
read, unless declared ``secret: false``) before it starts. Whatever it writes out goes
through a ``Secrets``: the records and events in the store (as JSON text), the run
document, the terminal's table, and the records of plait's loggers and httpx's. Each
occurrence of a secret becomes ``***``. The step itself still sees the real value: an
HTTP header built from ``${env.TOKEN}`` is sent as given, and recorded as
``Bearer ***``.

What is masked is every *form* in which plait itself writes a value (``FORMS``): as
given; JSON-escaped (a secret holding ``"``, ``\\`` or non-ASCII inside a JSON string);
as Python's ``repr`` quotes it (``KeyError('…')``, httpcore's ``b'…'`` headers);
percent-encoded as ``urllib`` and httpx encode a query parameter, a query, a path or a
user's password; and base64-encoded at any of the three byte alignments (the
``Authorization: Basic`` header httpx builds from ``https://user:PASSWORD@host``). A
secret transformed by code (hashed, reversed, upper-cased, split, encrypted) is not
recognisable, and is not masked.

A text that is cut (a stream's tail, a body's end in an error) is masked *before* it is
cut (``head``, ``tail``): a 2,000-character tail beginning inside a secret would
otherwise keep most of it, where no mask can recognise it.

Masking a step's output in the store is undone on resume: ``json_masked`` also says
where each ``***`` stands and for which variable in which form, never the value, and
``unmask`` puts the values back from the environment the resuming run reads::

    step output  {"h": "Bearer s3cr3t"}  ──json_masked──▶  {"h": "Bearer ***"}
                                                        +  {"masks": [[15, "TOKEN", "raw"]]}
    resume       ──unmask(TOKEN=s3cr3t)──▶  {"h": "Bearer s3cr3t"}  (what dependents got)

Values shorter than ``MIN_LENGTH`` characters are not masked: masking ``1`` or ``eu``
would garble every record while protecting nothing worth the name.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4

# The WHATWG percent-encode sets httpx uses to normalise a URL's parts (printable ASCII
# but these): https://url.spec.whatwg.org/#percent-encoded-bytes
_ASCII = [chr(i) for i in range(0x20, 0x7F)]
_QUERY_ENCODED = ' "#<>'
_PATH_ENCODED = _QUERY_ENCODED + "?`{}"
_PASSWORD_ENCODED = _PATH_ENCODED + "/:;=@[\\]^|"
QUERY_SAFE = "".join(c for c in _ASCII if c not in _QUERY_ENCODED)
PATH_SAFE = "".join(c for c in _ASCII if c not in _PATH_ENCODED)
PASSWORD_SAFE = "".join(c for c in _ASCII if c not in _PASSWORD_ENCODED)
USERINFO_SAFE = PASSWORD_SAFE + ":"


def _repr_inner(text: str, single: bool) -> str:
    """``text`` as ``repr`` writes it inside a larger string quoted with ``'`` (which it
    then escapes), or with ``"`` (a string holding ``'`` and no ``"``)."""
    if single:
        return repr(text + "'\"")[1:-4]  # both quotes: ' delimits, and is escaped
    return repr(text + "'")[1:-2] if '"' not in text else _repr_inner(text, True)


def _bytes_repr(text: str) -> str:
    return repr(text.encode() + b"'\"")[2:-4]


def _base64(offset: int) -> Callable[[str], str]:
    """The base64 characters that depend on ``text``'s bytes alone when it starts
    ``offset`` bytes into a 3-byte group: they appear in the encoding of any data
    holding ``text`` at that alignment (``user:`` + password, say)."""

    def encode(text: str) -> str:
        data = text.encode()
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        first = -(-8 * offset // 6)  # the first character whose 6 bits are all the text's
        last = 8 * (offset + len(data)) // 6
        return encoded[first:last]

    return encode


# Every form by name, in the order they are tried (a text two forms share keeps the
# first name). The names are recorded with masked outputs, so they never change.
FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda v: v,
    "json": lambda v: json.dumps(v)[1:-1],
    "json-utf8": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    "repr": lambda v: _repr_inner(v, True),
    "repr-dq": lambda v: _repr_inner(v, False),
    "bytes-repr": _bytes_repr,
    "url": lambda v: quote(v, safe=""),
    "url-slash": lambda v: quote(v, safe="/"),
    "url-plus": lambda v: quote_plus(v, safe=""),
    "url-query": lambda v: quote(v, safe=QUERY_SAFE),
    "url-path": lambda v: quote(v, safe=PATH_SAFE),
    "url-password": lambda v: quote(v, safe=PASSWORD_SAFE),
    "url-userinfo": lambda v: quote(v, safe=USERINFO_SAFE),
    "base64-0": _base64(0),
    "base64-1": _base64(1),
    "base64-2": _base64(2),
}


def forms(value: str) -> dict[str, str]:
    """The distinct texts plait may write ``value`` as, by form name (``raw`` first);
    those shorter than ``MIN_LENGTH`` are left out."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    for name, make in FORMS.items():
        text = make(value)
        if len(text) >= MIN_LENGTH and text not in seen:
            seen.add(text)
            found[name] = text
    return found


def _alternation(texts: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so that a secret containing another is masked whole.
    ordered = sorted(set(texts), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


# A JSON text's tokens that can hold a secret: strings, and bare literals (numbers).
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\w.+-]+')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')

Piece = str | tuple[str | None, str]  # text kept, or (variable name, form) masked


class Secrets:
    """The secrets of one run, and the functions that mask them out of data and text.

    ``values`` is a mapping of variable names to values (what a run reads), or plain
    values (a masked output then cannot be rebuilt: the name is unknown)."""

    __slots__ = ("_escaped", "_found", "_json", "_pattern", "longest", "values")

    def __init__(self, values: Mapping[str, str] | Iterable[str] = ()) -> None:
        pairs: list[tuple[str | None, str]] = (
            list(values.items())
            if isinstance(values, Mapping)
            else [(None, value) for value in values]
        )
        pairs = [(name, value) for name, value in pairs if len(value) >= MIN_LENGTH]
        self.values = frozenset(value for _, value in pairs)
        # Every form's text -> the variable and form it stands for.
        self._found: dict[str, tuple[str | None, str]] = {}
        for name, value in pairs:
            for form, text in forms(value).items():
                self._found.setdefault(text, (name, form))
        self._pattern = _alternation(self._found)
        # In JSON text each form appears JSON-escaped: a quick test that a text holds
        # nothing to mask, before any token is decoded.
        escaped = {json.dumps(t)[1:-1] for t in self._found}
        escaped |= {json.dumps(t, ensure_ascii=False)[1:-1] for t in self._found}
        self._escaped = tuple(escaped)
        self._json = _alternation(escaped)
        self.longest = max(map(len, self._found), default=0)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        if self._pattern is None or not _holds(text, self._pattern, self._found):
            return text
        return self._pattern.sub(MASK, text)

    def head(self, text: str, limit: int) -> str:
        """The first ``limit`` characters of ``text``, masked. A secret the cut falls
        into is kept whole, to be masked: ``text`` may hold ``longest`` characters more
        than ``limit`` for that (a stream read a little past its limit)."""
        if self._pattern is None or len(text) <= limit:
            return self.text(text[:limit])
        end = limit
        for match in self._pattern.finditer(text, 0, limit + self.longest):
            if match.end() > limit:
                end = match.end() if match.start() < limit else limit
                break
        return self.text(text[:end])

    def tail(self, text: str, limit: int) -> str:
        """The last ``limit`` characters of ``text`` once masked (masked first: the cut
        cannot fall inside a secret)."""
        return self.text(text)[-limit:] if limit > 0 else ""

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

    def json_text(self, text: str | None) -> str | None:
        """Mask JSON text as written to the store: it stays valid JSON."""
        return self.json_masked(text)[0]

    def json_masked(self, text: str | None) -> tuple[str | None, str | None]:
        """Mask JSON text as written to the store, and say where: the masked text, and
        the JSON that ``unmask`` takes to rebuild the original (None if nothing was
        masked). Masking works on the text's tokens, decoded: a secret is found however
        JSON escapes it, and a mask never breaks an escape sequence or a number."""
        if text is None or self._json is None or not _holds(text, self._json, self._escaped):
            return text, None
        out: list[str] = []
        masks: list[tuple[int, str | None, str]] = []
        literals: list[int] = []
        size = last = 0
        for match in _TOKEN.finditer(text):
            token = match.group()
            if not _holds(token, self._json, self._escaped):
                continue
            quoted = token.startswith('"')
            pieces = self._pieces(json.loads(token) if quoted else token)
            if len(pieces) == 1:
                continue
            kept = text[last : match.start()]
            out.append(kept)
            size += len(kept)
            if not quoted:  # a number holding a secret becomes a string
                literals.append(size)
            encoded, size = _encode(pieces, size, masks)
            out.append(encoded)
            last = match.end()
        if not masks:
            return text, None
        out.append(text[last:])
        where = {"masks": masks, "literals": literals} if literals else {"masks": masks}
        return "".join(out), json.dumps(where)

    def _pieces(self, text: str) -> list[Piece]:
        assert self._pattern is not None
        pieces: list[Piece] = []
        last = 0
        for match in self._pattern.finditer(text):
            pieces += [text[last : match.start()], self._found[match.group()]]
            last = match.end()
        if pieces:
            pieces.append(text[last:])
            return pieces
        return [text]


def _holds(text: str, pattern: re.Pattern[str], needles: Iterable[str]) -> bool:
    """Whether ``text`` holds one of ``needles`` (``pattern`` is their alternation): a
    first look. On a long text, ``in`` once per needle is ten times quicker than the
    pattern, which tries every alternative at almost every position; on a short one,
    the single search is quicker than a loop of ``in``."""
    if len(text) < 4096:
        return pattern.search(text) is not None
    return any(needle in text for needle in needles)


def _encode(
    pieces: list[Piece], size: int, masks: list[tuple[int, str | None, str]]
) -> tuple[str, int]:
    """A JSON string of ``pieces`` (a mask for each (name, form)), starting at offset
    ``size`` of the text being built; each mask's offset goes to ``masks``."""
    parts = ['"']
    size += 1
    for piece in pieces:
        if isinstance(piece, str):
            escaped = json.dumps(piece)[1:-1]
            parts.append(escaped)
            size += len(escaped)
        else:
            masks.append((size, *piece))
            parts.append(MASK)
            size += len(MASK)
    parts.append('"')
    return "".join(parts), size + 1


class SecretUnavailable(LookupError):
    """A masked output stands for a variable the resuming run has no value for."""

    def __init__(self, name: str | None) -> None:
        super().__init__(name)
        self.name = name


def unmask(text: str, where: str, values: Mapping[str, str | None]) -> str:
    """The JSON text ``json_masked`` gave ``text`` and ``where`` for, with each secret
    put back from ``values`` (the variables the resuming run reads, by name). Raises
    ``SecretUnavailable`` naming a variable ``values`` has no value for."""
    info = json.loads(where)
    edits: list[tuple[int, int, str]] = []
    for offset, name, form in info["masks"]:
        value = values.get(name) if name is not None else None
        if value is None:
            raise SecretUnavailable(name)
        edits.append((offset, offset + len(MASK), json.dumps(FORMS[form](value))[1:-1]))
    for offset in info.get("literals", ()):  # a number again: its quotes go
        match = _STRING.match(text, offset)
        assert match is not None, f"no masked literal at {offset}"
        edits += [(offset, offset + 1, ""), (match.end() - 1, match.end(), "")]
    out: list[str] = []
    last = 0
    for start, end, replacement in sorted(edits):
        out += [text[last:start], replacement]
        last = end
    out.append(text[last:])
    return "".join(out)


NO_SECRETS = Secrets()


class SecretsFilter(logging.Filter):
    """Masks the secrets of every run in progress out of log records: the message, its
    arguments, extra fields, and the exception's and stack's text.

    Installed on plait's loggers and httpx's (``LOGGERS``) by ``register``; costs
    nothing while no running run has a secret."""

    def __init__(self) -> None:
        super().__init__("plait.secrets")
        self._lock = threading.Lock()
        self._active: dict[int, Secrets] = {}
        self.all = NO_SECRETS

    def register(self, key: int, secrets: Secrets) -> None:
        with self._lock:
            self._active[key] = secrets
            self._rebuild()

    def unregister(self, key: int) -> None:
        with self._lock:
            if self._active.pop(key, None) is not None:
                self._rebuild()

    def _rebuild(self) -> None:
        self.all = Secrets(v for s in self._active.values() for v in s.values)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.all
        if not secrets:
            return True
        message = record.getMessage()
        masked = secrets.text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatted now, masked, and kept where every Formatter looks first.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = secrets.text(record.exc_text)
        if record.stack_info:
            record.stack_info = secrets.text(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and isinstance(value, str | dict | list):
                setattr(record, key, secrets.value(value))
        return True


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# A logger's filter sees only the records logged on it (not its children's): every
# logger that may write a request's URL or headers is named.
LOGGERS = (
    "plait",
    "plait.tools",
    "plait.pool",
    "plait.parallel",
    "plait.engine",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
FILTER = SecretsFilter()


def register(key: int, secrets: Secrets) -> None:
    """Mask ``secrets`` in plait's and httpx's log records until ``unregister(key)``."""
    if not secrets:
        return
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
    FILTER.register(key, secrets)


def unregister(key: int) -> None:
    FILTER.unregister(key)


def active() -> Secrets:
    """The secrets of every run in progress in this process: for a text cut where the
    run that made it is not known (``errors._short``)."""
    return FILTER.all
