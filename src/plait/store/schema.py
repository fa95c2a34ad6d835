"""The tables, defined once for every dialect (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "plait_schema",
    metadata,
    Column("version", Integer, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workflow", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("definition_hash", String(64)),
    Column("definition", Text),
    Column("file", Text),
    Column("outline", Text),
    Column("inputs", Text),
    Column("outputs", Text),
    Column("error", Text),
    Column("stats", Text),
    Column("lease_owner", String(255)),
    Column("lease_expires_at", Float),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", String(40)),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("updated_at", String(40)),
    Column("trace_id", String(32)),  # a traced run's OpenTelemetry trace (issue 13)
    Column("root_span_id", String(16)),  # its first root span, linked on resume
    Index("ix_runs_created", "created_at"),
    Index("ix_runs_workflow", "workflow"),
    Index("ix_runs_status", "status"),
)

step_executions = Table(
    "step_executions",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("node_id", String(512), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("step_id", String(255), nullable=False),
    Column("parent_step_id", String(255)),
    Column("branch_name", String(255)),
    Column("branch_index", Integer),
    Column("loop_iteration", Integer),
    Column("join_policy", String(16)),
    Column("status", String(16), nullable=False),
    Column("input", Text),
    Column("output", Text),
    Column("error", Text),
    Column("reason", Text),
    Column("detail", Text),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
)

events = Table(
    "events",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("time", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("node_id", String(512)),
    Column("payload", Text),
)

PLAIT_TABLES = frozenset({"plait_schema", "runs", "step_executions", "events"})
