"""Every ``--json`` output is JSON any parser reads (RFC 8259): NaN and Infinity, which
JSON cannot hold, are written as ``null`` (issue 19)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from plait.cli.common import json_text

from .conftest import Invoke, Write

STEPS = """
import math


def odd_numbers():
    return {"nan": math.nan, "inf": math.inf, "minus": -math.inf, "fine": 1.5,
            "list": [math.nan, 2], "keys": {math.inf: "big"}}
"""


def strict(text: str) -> Any:
    """Parse as RFC 8259 JSON: a bare NaN or Infinity is an error."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def odd_run(plait_cli: Invoke, write: Write, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    (tmp_path / "odd_steps.py").write_text(STEPS, encoding="utf-8")
    path = write(
        "wf.yaml",
        """
        name: odd
        steps:
          - {id: odd, tool: python, input: {function: "odd_steps:odd_numbers"}}
        outputs: {ratio: "${odd.output.nan}"}
        """,
    )
    store = str(tmp_path / "p.db")
    outcome = plait_cli("run", path, "--json", "--store", store)
    assert outcome.exit_code == 0, outcome.stderr
    return store, strict(outcome.stdout)


def test_the_run_document_holds_null_for_nan_and_infinity(
    odd_run: tuple[str, dict[str, Any]],
) -> None:
    _, doc = odd_run
    output = doc["steps"]["odd"]["output"]
    assert output == {
        "nan": None,
        "inf": None,
        "minus": None,
        "fine": 1.5,
        "list": [None, 2],
        "keys": {"Infinity": "big"},
    }
    assert doc["outputs"] == {"ratio": None}


def test_every_json_command_is_strict_json(
    plait_cli: Invoke, odd_run: tuple[str, dict[str, Any]]
) -> None:
    store, doc = odd_run
    for args in (
        ("runs", "show", doc["run_id"]),
        ("runs", "list"),
        ("stats",),
        ("stats", "odd"),
    ):
        outcome = plait_cli(*args, "--json", "--store", store)
        assert outcome.exit_code == 0, (args, outcome.stderr)
        strict(outcome.stdout)
    shown = strict(plait_cli("runs", "show", doc["run_id"], "--json", "--store", store).stdout)
    assert shown["steps"]["odd"]["output"]["nan"] is None


def test_json_text_keeps_finite_numbers_and_the_fast_path() -> None:
    assert json_text({"a": 1.5, "b": [1, 2.0], "c": None}) == '{"a": 1.5, "b": [1, 2.0], "c": null}'
    assert strict(json_text([math.nan, {"x": -math.inf}, (1, math.inf)])) == [
        None,
        {"x": None},
        [1, None],
    ]
    assert json_text({1, 2}) in ("[1, 2]", "[2, 1]")
    assert json_text(b"bytes") == '"bytes"'
