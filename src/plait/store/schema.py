"""The tables, defined once for every dialect (SQLAlchemy Core).

Every text column is ``TEXT``, with no length: what SQLite keeps, PostgreSQL keeps too
(a 255-character limit on PostgreSQL alone once failed mid-run a workflow that ran on
SQLite). The one limit both share is on the ids a PostgreSQL index holds whole (a run's
id, a workflow's name, a step execution's node id): ``KEY_BYTES`` each, checked by the
store before it writes, the same on both (see ``sql.check_keys``).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

# PostgreSQL refuses an index entry over 2,704 bytes; a step execution's key holds a
# run id and a node id: two keys of 1,024 bytes and the attempt fit, on both stores.
KEY_BYTES = 1024

metadata = MetaData()

schema_version = Table(
    "plait_schema",
    metadata,
    Column("version", Integer, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("workflow", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("definition_hash", Text),
    Column("definition", Text),
    Column("file", Text),
    Column("outline", Text),
    Column("inputs", Text),
    Column("outputs", Text),
    Column("error", Text),
    Column("stats", Text),
    Column("lease_owner", Text),
    Column("lease_expires_at", Float),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", Text),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("updated_at", Text),
    Column("trace_id", Text),  # a traced run's OpenTelemetry trace (issue 13)
    Column("root_span_id", Text),  # its first root span, linked on resume
    Index("ix_runs_created", "created_at"),
    Index("ix_runs_workflow", "workflow"),
    Index("ix_runs_status", "status"),
)

step_executions = Table(
    "step_executions",
    metadata,
    Column("run_id", Text, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("node_id", Text, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("step_id", Text, nullable=False),
    Column("parent_step_id", Text),
    Column("branch_name", Text),
    Column("branch_index", Integer),
    Column("loop_iteration", Integer),
    Column("join_policy", Text),
    Column("status", Text, nullable=False),
    Column("input", Text),
    Column("output", Text),
    Column("error", Text),
    Column("reason", Text),
    Column("detail", Text),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("output_masks", Text),  # migration 3 (migrations/v003_output_masks.py)
    Column("logs", Text),  # migration 5 (migrations/v005_step_logs.py)
)

events = Table(
    "events",
    metadata,
    Column("run_id", Text, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("time", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("node_id", Text),
    Column("payload", Text),
)

PLAIT_TABLES = frozenset({"plait_schema", "runs", "step_executions", "events"})
