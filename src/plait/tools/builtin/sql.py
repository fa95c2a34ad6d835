"""The ``sql`` tool (also named ``database_query``, seed 001's name): one statement.

``query`` is SQL with named parameters (``:name``), bound from ``params`` through
``sqlalchemy.text``, so a value is always data and never SQL. ``params`` is one of::

    a mapping            {name: Ada}              ... WHERE name = :name
    a list of values     [Ada, 3]                 ... WHERE name = :1 AND level = :2
    a list of mappings   [{n: 1}, {n: 2}]         INSERT ... VALUES (:n), once per mapping

A statement that returns rows outputs them as a list of mappings (column → value); any
other outputs ``{rowcount}``. The statement runs in a transaction of its own, committed
when it succeeds. ``query`` may also be a list of statements (a setup script): they run
in order in one transaction, each with ``params``, and the last one gives the output.
A literal ``:word`` that is not a parameter is written ``\\:word``. A ``${...}`` inside
``query`` is refused when the workflow is validated (``check_input``, issue 19): a run
input would be pasted into the SQL text; ``params`` is the safe form.

``url`` is a SQLAlchemy URL (``sqlite:///data.db``, ``postgresql://user@host/db``) or a
plain file path, for SQLite. A relative SQLite path is relative to the workflow file's
folder (else the working directory). ``sqlite://`` is an in-memory database that every
step of the run shares, one statement at a time. ``postgresql://`` uses psycopg
(``pip install 'plait[postgres]'``).

One engine per URL per run, kept in the run's resources and disposed of when the run
ends. Statements run in the run's thread pool, never on the event loop. A step that is
cancelled or times out interrupts its statement in the database (sqlite3's
``interrupt()``, psycopg's ``cancel_safe()``), so the thread does not run on for long.

Values JSON cannot hold are converted: ``Decimal`` → int when whole, else float (cast
to text in SQL to keep every digit); date, time, datetime → ISO 8601 text; timedelta →
seconds; bytes → base64 text; UUID and anything else → ``str(value)``.

Error types, for ``retryOn``::

    SqlError              the database refused the statement (syntax, a missing table);
                          the message is the driver's, on one line
    SqlIntegrityError     a constraint was violated (unique, foreign key, not null)
    SqlOperationalError   the database is unreachable, locked or busy, or the statement
                          was cancelled, deadlocked or could not be serialized
    MissingDependency     the URL's driver is not installed
    InputError            the input is wrong
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from plait.errors import StepError
from plait.tools.builtin._args import check_keys, mapping, text
from plait.tools.checks import Finding, StaticInput, elements, is_dynamic, not_a_mapping
from plait.tools.context import StepContext
from plait.tools.registry import Tool

KEYS = frozenset({"url", "query", "params"})
SQLITE_GENERIC_ERROR = 1  # SQLITE_ERROR: bad SQL, a missing table; not worth a retry


async def sql(value: Any, ctx: StepContext) -> Any:
    args = mapping(value, "sql")
    check_keys(args, KEYS, "sql")
    url = text(args, "url", "sql", required=True) or ""
    params = bind_params(args.get("params"))
    return await execute(ctx, url, [(q, params) for q in _queries(args)], tool="sql")


def _queries(args: dict[str, Any]) -> list[str]:
    query = args.get("query")
    if isinstance(query, str) and query.strip():
        return [query]
    if isinstance(query, list) and query and all(isinstance(q, str) for q in query):
        return query
    raise StepError(
        "sql: 'query' is required: one SQL statement, or a list of them (a script run in "
        "one transaction)",
        type="InputError",
    )


async def execute(
    ctx: StepContext, url: str, statements: list[tuple[str, Any]], *, tool: str
) -> Any:
    """Run ``(query, params)`` statements in one transaction on the run's engine for
    ``url``, in the run's thread pool; the output is the last statement's."""
    db = run_database(ctx, url, tool)
    work = _Transaction(db, statements, tool)
    try:
        return await ctx.run_in_thread(work.run)
    except asyncio.CancelledError:  # cancelled or timed out: stop it in the database too
        work.interrupt()
        raise


def bind_params(value: Any) -> dict[str, Any] | list[dict[str, Any]]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(p, dict) for p in value):
            return [{str(k): v for k, v in p.items()} for p in value]
        if not any(isinstance(p, dict) for p in value):
            return {str(i): v for i, v in enumerate(value, 1)}
    raise StepError(
        "sql: 'params' is a mapping (:name), a list of values (:1, :2, ...) "
        "or a list of mappings (the statement runs once per mapping)",
        type="InputError",
    )


class Database:
    """One engine for one URL in one run. ``close()`` (at the run's end) disposes of it."""

    def __init__(self, engine: Engine, *, serial: bool) -> None:
        self.engine = engine
        # The in-memory database is one connection: its statements take turns.
        self._turn: threading.Lock | None = threading.Lock() if serial else None

    def turn(self) -> threading.Lock | contextlib.nullcontext[None]:
        return self._turn if self._turn is not None else contextlib.nullcontext()

    def close(self) -> None:
        self.engine.dispose()


def run_database(ctx: StepContext, raw_url: str, tool: str) -> Database:
    """The run's ``Database`` for ``raw_url``, made on first use."""
    url, memory = resolve_url(raw_url, ctx.workflow_dir, tool)
    key = f"plait.sql.engine:{url.render_as_string(hide_password=False)}"
    db: Database | None = ctx.resources.get(key)
    if db is None:
        db = Database(_create_engine(url, memory, tool), serial=memory)
        ctx.resources[key] = db
    return db


def resolve_url(raw: str, folder: Path | None, tool: str) -> tuple[URL, bool]:
    """The URL with a SQLite path made absolute and PostgreSQL's driver named; and
    whether it is an in-memory SQLite database."""
    base = folder or Path.cwd()
    if "://" not in raw:
        return URL.create("sqlite", database=str(base / raw)), False
    try:
        url = make_url(raw)
    except sqlalchemy.exc.ArgumentError as exc:
        raise StepError(f"{tool}: bad 'url': {exc}", type="InputError") from None
    if url.drivername in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg"), False
    if url.get_backend_name() != "sqlite":
        return url, False
    database = url.database
    if not database or database == ":memory:":
        return url, True
    if not database.startswith("file:") and not Path(database).is_absolute():
        url = url.set(database=str(base / database))
    return url, False


def _create_engine(url: URL, memory: bool, tool: str) -> Engine:
    kwargs: dict[str, Any] = {}
    if memory:
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif url.get_backend_name() == "postgresql":
        kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    try:
        return sqlalchemy.create_engine(url, **kwargs)
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:
        hint = " (pip install 'plait[postgres]')" if "postgres" in url.drivername else ""
        raise StepError(
            f"{tool}: no driver for {url.drivername}: {exc}{hint}", type="MissingDependency"
        ) from None


class _Transaction:
    """Statements on one connection, which the event loop may interrupt while they run."""

    def __init__(self, db: Database, statements: list[tuple[str, Any]], tool: str) -> None:
        self._db = db
        self._statements = [(sqlalchemy.text(q), p) for q, p in statements]
        self._tool = tool
        self._lock = threading.Lock()
        self._running: Any = None  # the driver's connection, while the statement runs
        self._abandoned = False

    def run(self) -> Any:
        """In a worker thread."""
        try:
            with (
                self._db.turn(),
                self._db.engine.connect() as conn,
                self._interruptible(conn),
                conn.begin(),
            ):
                output: Any = None
                for query, params in self._statements:
                    output = _output(conn.execute(query, params))
                return output
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise _error(exc, self._tool) from None

    @contextlib.contextmanager
    def _interruptible(self, conn: sqlalchemy.Connection) -> Iterator[None]:
        with self._lock:
            if self._abandoned:  # the step ended before a thread took the statement
                raise StepError(f"{self._tool}: cancelled before it ran", type="Cancelled")
            self._running = conn.connection.dbapi_connection
        try:
            yield
        finally:
            with self._lock:
                self._running = None  # from here the connection may serve another statement

    def interrupt(self) -> None:
        """From the event loop: stop the statement if it is running, and never start it."""
        with self._lock:
            self._abandoned = True
            running = self._running
            if running is None:
                return
            if hasattr(running, "interrupt"):  # sqlite3: instant, and safe from any thread
                running.interrupt()
                return
        cancel = getattr(running, "cancel_safe", None) or getattr(running, "cancel", None)
        if cancel is not None:  # psycopg: a round trip to the server, off the event loop
            threading.Thread(target=_quietly, args=(cancel,), daemon=True).start()


def _output(result: sqlalchemy.CursorResult[Any]) -> Any:
    if not result.returns_rows:
        return {"rowcount": result.rowcount}
    keys = list(result.keys())
    return [{k: jsonable(v) for k, v in zip(keys, row, strict=True)} for row in result]


def _quietly(fn: Any) -> None:
    with contextlib.suppress(Exception):  # the statement may have ended: nothing to cancel
        fn()


def jsonable(value: Any) -> Any:
    """A database value as JSON can hold it (see the module's docstring)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def _error(exc: sqlalchemy.exc.SQLAlchemyError, tool: str) -> StepError:
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip()
    first = message.splitlines()[0] if message else type(exc).__name__
    return StepError(f"{tool}: {first}", type=_error_type(exc, orig), details=_details(orig))


def _details(orig: Any) -> dict[str, Any] | None:
    """What the driver says about the error: PostgreSQL's SQLSTATE (psycopg), or
    SQLite's error code and its name."""
    details: dict[str, Any] = {}
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str):
        details["sqlstate"] = sqlstate
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        details["sqlite_errorcode"] = code
        details["sqlite_errorname"] = getattr(orig, "sqlite_errorname", None)
    return details or None


def _error_type(exc: sqlalchemy.exc.SQLAlchemyError, orig: Any) -> str:
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return "SqlIntegrityError"
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        # sqlite3 raises OperationalError for bad SQL too; its error code tells them apart.
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == SQLITE_GENERIC_ERROR:
            return "SqlError"
        return "SqlOperationalError"
    return "SqlError"


def check_input(given: StaticInput) -> Iterator[Finding]:
    """A ``${...}`` may give ``params`` (bound, never SQL), not any of the SQL text."""
    if not given.is_mapping():
        yield not_a_mapping("sql", "url, query, params")
        return
    query = given.get("query")
    parts = elements(query) if query is not None else None
    where = [i for i, part in enumerate(parts) if is_dynamic(part)] if parts is not None else []
    if where or (parts is None and is_dynamic(query)):
        key = f"query[{where[0]}]" if where else "query"
        yield (
            key,
            "a ${...} inside the SQL text is pasted into the statement, so a run input could "
            "change it (' OR '1'='1, a second statement); write the query in the workflow with "
            'parameters and give the values in params: query: "SELECT ... WHERE id = :id", '
            'params: {id: "${...}"}; see docs/security.md',
        )


SQL = Tool(
    "sql",
    sql,
    is_async=True,
    style="input",
    wants_ctx=True,
    description="run one SQL `query` on `url` with bound `params`",
    check=check_input,
    inputs={"url": "string", "query": "string|list", "params": "mapping|list"},
)
