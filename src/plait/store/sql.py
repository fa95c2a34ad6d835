"""The SQLAlchemy store shared by SQLite and PostgreSQL; dialects subclass it."""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Select, Table, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from plait.errors import LeaseHeld, RunNotFound, StoreError
from plait.store.migrations import migrate
from plait.store.records import (
    DAMAGED,
    OPEN_STATUSES,
    EventRecord,
    RunRecord,
    RunUpdate,
    StepRecord,
    Write,
    keep_final,
    run_from_row,
    step_from_row,
)
from plait.store.schema import KEY_BYTES, events, runs, step_executions

_STEP_COLUMNS = list(StepRecord._fields)
_RUN_COLUMNS = [f.name for f in dataclasses.fields(RunRecord)]
_NAMED = re.compile(r"%\((\w+)\)s")
_STEP_KEY = ("run_id", "node_id", "attempt")
_LONG_KEY = KEY_BYTES // 4  # a shorter text cannot be over KEY_BYTES in UTF-8


class SqlStore:
    """Runs, step executions and events in a relational database."""

    # The dialect's INSERT, which has ``on_conflict_do_update`` (SQLite and PostgreSQL).
    insert: Callable[[Table], Any]
    # How many rows one INSERT carries (1: the driver's executemany, row by row).
    rows_per_statement = 1

    def __init__(self, engine: Engine, url: str) -> None:
        # Writes go through an engine marked "write" (SQLite then begins IMMEDIATE);
        # reads through the plain one, so they never wait for a writer's lock.
        self.reader = engine
        self.engine = engine.execution_options(plait_write=True)
        self.url = url
        with self._translate("open"), self.engine.begin() as conn:
            self.schema_lock(conn)
            migrate(conn, url)
        rows = self.rows_per_statement
        self._upsert_step = _Bulk(self._step_upsert_statement(), engine, rows)
        self._insert_event = _Bulk(events.insert(), engine, rows)

    def schema_lock(self, conn: Connection) -> None:
        """Hold, until ``conn``'s transaction ends, the lock that lets one process at a
        time create or migrate the schema. SQLite: the write lock ``BEGIN IMMEDIATE``
        took already; PostgreSQL overrides this."""

    def explain(self, message: str) -> str:
        """The database's error message, with what the user can do about it."""
        return message

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Database errors become one-line ``StoreError``s naming the store."""
        try:
            yield
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            message = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
            raise StoreError(f"store {self.url}: cannot {what}: {self.explain(message)}") from None

    # -- writes ------------------------------------------------------------------

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        new_runs: list[dict[str, Any]] = []
        updates: list[RunUpdate] = []
        steps: dict[tuple[str, str, int], StepRecord] = {}
        new_events: list[EventRecord] = []
        for item in batch:
            if isinstance(item, StepRecord):
                if len(item.node_id) > _LONG_KEY:
                    self._check_key(item.node_id, f"run {item.run_id}: node id")
                steps[item.key] = keep_final(steps.get(item.key), item)
            elif isinstance(item, EventRecord):
                new_events.append(item)
            elif isinstance(item, RunUpdate):
                updates.append(item)
            else:
                self._check_key(item.id, "run id")
                self._check_key(item.workflow, f"run {item.id}: workflow name")
                new_runs.append(_utf8(_row(item, _RUN_COLUMNS)))
        with self._translate("write"), self.engine.begin() as conn:
            if fence is not None:
                self._check_fence(conn, *fence)
            if new_runs:
                conn.execute(runs.insert(), new_runs)
            if steps:
                self._upsert_step.run(conn, list(steps.values()))
            if new_events:
                self._insert_event.run(conn, new_events)
            for update in updates:
                conn.execute(runs.update().where(runs.c.id == update.run_id).values(update.values))

    def _check_key(self, key: str, what: str) -> None:
        """The same limit on SQLite as on PostgreSQL (whose index refuses more)."""
        size = len(key.encode("utf-8", "surrogatepass"))
        if size > KEY_BYTES:
            shown = key if len(key) <= 40 else f"{key[:40]}..."
            raise StoreError(
                f"store {self.url}: cannot write: {what} '{shown}' is {size:,} bytes long; "
                f"a store keeps ids of up to {KEY_BYTES:,} bytes"
            )

    def _check_fence(self, conn: Connection, run_id: str, owner: str) -> None:
        stmt = select(runs.c.lease_owner).where(runs.c.id == run_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        holder = conn.execute(stmt).scalar_one_or_none()
        if holder != owner:
            by = f"held by {holder}" if holder else "another process took it and let it go"
            raise LeaseHeld(
                f"run {run_id}: this process no longer holds its lease ({by}); it stops writing"
            )

    def _step_upsert_statement(self) -> Insert:
        stmt: Insert = self.insert(step_executions)
        excluded = stmt.excluded  # type: ignore[attr-defined]
        upsert: Insert = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=list(_STEP_KEY),
            set_={c: getattr(excluded, c) for c in _STEP_COLUMNS if c not in _STEP_KEY},
            # An attempt that ended stays as it ended: a later ending under the same
            # attempt number (a step cancelled in its retry backoff, a resume skipping
            # a step again) never erases the recorded failure and its error.
            where=text(
                "step_executions.status IN ("
                + ", ".join(f"'{status}'" for status in OPEN_STATUSES)
                + ")"
            ),
        )
        return upsert

    # -- leases and cancellation -------------------------------------------------------

    def acquire_lease(
        self, run_id: str, owner: str, ttl: float, now: float, steal_from: str | None = None
    ) -> bool:
        free = (
            (runs.c.lease_owner.is_(None))
            | (runs.c.lease_expires_at < now)
            | (runs.c.lease_owner == owner)
        )
        if steal_from is not None:
            free = free | (runs.c.lease_owner == steal_from)
        stmt = (
            runs.update()
            .where(runs.c.id == run_id)
            .where(free)
            .values(lease_owner=owner, lease_expires_at=now + ttl)
        )
        with self._translate("take the run's lease"), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def renew_lease(self, run_id: str, owner: str, ttl: float, now: float) -> bool:
        stmt = (
            runs.update()
            .where(runs.c.id == run_id, runs.c.lease_owner == owner)
            .values(lease_expires_at=now + ttl)
        )
        with self._translate("renew the run's lease"), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        stmt = (
            runs.update()
            .where(runs.c.id == run_id, runs.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        with self._translate("release the run's lease"), self.engine.begin() as conn:
            conn.execute(stmt)

    def request_cancel(self, run_id: str) -> None:
        stmt = runs.update().where(runs.c.id == run_id).values(cancel_requested=True)
        with self._translate("request cancellation"), self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                raise RunNotFound(f"no run {run_id!r} in {self.url}")

    def cancel_requested(self, run_id: str) -> bool:
        stmt = select(runs.c.cancel_requested).where(runs.c.id == run_id)
        with self._translate("read the run"), self.reader.connect() as conn:
            return bool(conn.execute(stmt).scalar_one_or_none())

    # -- reads ---------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        if not encodable(run_id):  # `plait runs show $'\xff'`: no id holds such text
            raise RunNotFound(f"no run {run_id!r} in {self.url}")
        with self._translate("read the run"), self.reader.connect() as conn:
            rows = self.read_rows(conn, select(runs).where(runs.c.id == run_id))
            # A unique prefix finds its run; LIKE's wildcards never are part of an id.
            if not rows and run_id and not any(c in run_id for c in "%_\\"):
                like = run_id + "%"
                found = self.read_rows(conn, select(runs).where(runs.c.id.like(like)).limit(2))
                rows = found if len(found) == 1 else []
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in {self.url}")
        return run_from_row(rows[0])

    def list_runs(
        self, *, status: str | None = None, workflow: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        # Within what every database takes as a LIMIT (a signed 64-bit integer, not
        # negative): `list_runs(limit=10**30)` lists them all.
        limit = max(0, min(limit, 2**62))
        if not all(map(encodable, (status or "", workflow or ""))):
            return []  # nothing recorded is named so: the database holds UTF-8 text
        stmt = select(runs).order_by(runs.c.created_at.desc(), runs.c.id)
        if workflow is not None:
            stmt = stmt.where(runs.c.workflow == workflow)
        if status == DAMAGED:  # no column says so: every row is read to find them
            with self._translate("list runs"), self.reader.connect() as conn:
                found = [run_from_row(row) for row in self.read_rows(conn, stmt)]
            return [r for r in found if r.status == DAMAGED][:limit]
        if status is not None:
            stmt = stmt.where(runs.c.status == status)
        with self._translate("list runs"), self.reader.connect() as conn:
            return [run_from_row(row) for row in self.read_rows(conn, stmt.limit(limit))]

    def get_steps(self, run_id: str) -> list[StepRecord]:
        stmt = (
            select(step_executions)
            .where(step_executions.c.run_id == run_id)
            .order_by(
                step_executions.c.started_at, step_executions.c.node_id, step_executions.c.attempt
            )
        )
        with self._translate("read step executions"), self.reader.connect() as conn:
            return [step_from_row(row) for row in self.read_rows(conn, stmt)]

    def read_rows(self, conn: Connection, stmt: Select[Any]) -> list[dict[str, Any]]:
        """The rows of a query, as dicts of column to value (SQLite overrides this to
        read text that is not UTF-8). ``dict(zip(...))`` is several times cheaper than
        SQLAlchemy's ``RowMapping`` a row: a run of many steps reads thousands."""
        result = conn.execute(stmt)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]

    def get_events(self, run_id: str, since: int = 0) -> list[EventRecord]:
        # (run_id, seq) is the primary key: a follower's poll reads only what is new.
        stmt = (
            select(events)
            .where(events.c.run_id == run_id, events.c.seq > since)
            .order_by(events.c.seq)
        )
        with self._translate("read events"), self.reader.connect() as conn:
            return [EventRecord(**dict(row)) for row in conn.execute(stmt).mappings()]

    def max_event_seq(self, run_id: str) -> int:
        stmt = select(func.max(events.c.seq)).where(events.c.run_id == run_id)
        with self._translate("read events"), self.reader.connect() as conn:
            return int(conn.execute(stmt).scalar_one_or_none() or 0)

    def close(self) -> None:
        self.reader.dispose()


class _Bulk:
    """A statement compiled once for the dialect and run with the driver's executemany.

    SQLAlchemy's own executemany costs tens of microseconds a row in Python; the
    driver's costs a few (sqlite3 binds in C; psycopg pipelines the rows). The SQL is
    still SQLAlchemy's, generated from the one table definition.
    """

    def __init__(self, statement: Insert, engine: Engine, rows_per_statement: int = 1) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        sql = str(compiled)
        if compiled.positiontup is not None:  # qmark / format: the order is known
            names = list(compiled.positiontup)
        else:  # pyformat (psycopg): make it positional, so rows can be plain tuples
            names = _NAMED.findall(sql)
            sql = _NAMED.sub("%s", sql)
        self.sql = sql
        # One C-level call per record builds its parameter tuple.
        self.values = operator.attrgetter(*names)
        # Several rows per statement ("VALUES (...), (...), ..."): sqlite3 gives up the
        # GIL once per statement rather than once per row, so a busy event loop cannot
        # starve the writer thread between rows.
        self.chunk = max(1, min(rows_per_statement, _MAX_VARIABLES // len(names)))
        head, group, tail = _split_values(sql)
        self._multi = (head, group, tail)
        self._sql_for: dict[int, str] = {}

    def run(self, conn: Connection, records: Sequence[Any]) -> None:
        values = self.values
        if self.chunk == 1 or len(records) == 1:
            conn.exec_driver_sql(self.sql, [values(r) for r in records])
            return
        for start in range(0, len(records), self.chunk):
            part = records[start : start + self.chunk]
            params = [item for r in part for item in values(r)]
            conn.exec_driver_sql(self._statement(len(part)), tuple(params))

    def _statement(self, rows: int) -> str:
        sql = self._sql_for.get(rows)
        if sql is None:
            head, group, tail = self._multi
            sql = self._sql_for[rows] = f"{head}{', '.join([group] * rows)}{tail}"
        return sql


_MAX_VARIABLES = 32_000  # SQLite allows 32,766 bound values in one statement (3.32+)
_VALUES = re.compile(r"^(.*?\bVALUES\s*)(\([^()]*\))(.*)$", re.DOTALL)


def _split_values(sql: str) -> tuple[str, str, str]:
    """``INSERT ... VALUES (?, ?) ON CONFLICT ...`` → the text before, the row group, after."""
    match = _VALUES.match(sql)
    if match is None:
        return sql, "", ""
    return match.group(1), match.group(2), match.group(3)


def _row(record: Any, columns: list[str]) -> dict[str, Any]:
    return {c: getattr(record, c) for c in columns}


def encodable(text: str) -> bool:
    """Whether a store can hold this text, so that looking it up makes sense: UTF-8
    (a command-line argument or a file name that is not reaches Python with lone
    surrogates, ``surrogateescape``) without a NUL (PostgreSQL refuses one)."""
    return "\x00" not in text and _utf8_text(text)


def _utf8_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8(row: dict[str, Any]) -> dict[str, Any]:
    """A run row with every text storable: a workflow file whose path is not UTF-8 is
    recorded with its odd bytes written as ``\\xff`` (a resume then uses the recorded
    definition, not finding the file)."""
    for column, value in row.items():
        if isinstance(value, str) and not _utf8_text(value):
            raw = value.encode("utf-8", "surrogateescape")
            row[column] = raw.decode("utf-8", "backslashreplace")
    return row
