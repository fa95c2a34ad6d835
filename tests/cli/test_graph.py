"""``plait graph FILE --format mermaid|dot``."""

from __future__ import annotations

import re

import pytest

from .conftest import Invoke, Write

WF = """
name: fan-in
steps:
  - {id: start, tool: noop}
  - {id: g, dependsOn: [start], parallelGroup: {steps: [left, right]}}
  - {id: left, tool: echo}
  - {id: right, tool: echo}
  - {id: join, tool: echo, input: "${left.output}", dependsOn: [g]}
"""


def test_default_format_is_mermaid(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("graph", write("wf.yaml", WF))
    assert outcome.exit_code == 0
    assert outcome.stdout.startswith("flowchart TD\n")
    for label in ["start (noop)", "left (echo)", "right (echo)", "join (echo)", "g [all]"]:
        assert f'["{label}"]' in outcome.stdout
    ids = dict(re.findall(r'(\S+)\["(\w+)', outcome.stdout))
    edges = {(ids[a], ids[b]) for a, b in re.findall(r"^\s*(\S+) --> (\S+)$", outcome.stdout, re.M)}
    assert {("start", "g"), ("g", "join"), ("left", "join")} == edges


def test_dot_format(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("graph", write("wf.yaml", WF), "--format", "dot")
    assert outcome.exit_code == 0
    assert outcome.stdout.startswith('digraph "fan-in" {')
    assert '"start" [label="start (noop)"];' in outcome.stdout
    assert 'subgraph "cluster_g" {' in outcome.stdout
    edges = set(re.findall(r'"(\w+)" -> "(\w+)"', outcome.stdout))
    assert edges == {("start", "g"), ("g", "join"), ("left", "join")}


def test_short_format_option(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("graph", write("wf.yaml", WF), "-f", "mermaid")
    assert outcome.stdout.startswith("flowchart TD\n")


@pytest.mark.parametrize("fmt", ["png", "DOT", ""])
def test_bad_format_exits_2(plait_cli: Invoke, write: Write, fmt: str) -> None:
    outcome = plait_cli("graph", write("wf.yaml", WF), "--format", fmt)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert "--format" in outcome.stderr


def test_graph_of_an_invalid_file_exits_2(plait_cli: Invoke, write: Write) -> None:
    path = write("wf.yaml", "name: w\nsteps:\n  - {id: a, tool: noop, dependsOn: [ghost]}\n")
    outcome = plait_cli("graph", path)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.problems() == [f"{path}:3:37: step 'a': key 'dependsOn': unknown step 'ghost'"]
