"""Helpers for compiler tests: compile a workflow from data, or collect its problems."""

from __future__ import annotations

from typing import Any

import pytest

from plait.compiler import Plan, compile_loaded
from plait.definition import parse_definition
from plait.errors import Problem, ValidationError


def compile_data(data: dict[str, Any], file: str | None = "wf.yaml") -> Plan:
    """Compile a workflow given as the mapping a file would hold."""
    return compile_loaded(parse_definition(data, file=file))


def problems_of(data: dict[str, Any]) -> list[Problem]:
    """Every problem compiling ``data`` reports (the test fails if it compiles)."""
    with pytest.raises(ValidationError) as info:
        compile_data(data)
    return info.value.problems


def ids(plan: Plan, indexes: tuple[int, ...]) -> list[str]:
    return sorted(plan.nodes[i].id for i in indexes)
