"""The compiled DAG as Mermaid and Graphviz dot (``plait graph``)."""

from __future__ import annotations

import re
from typing import Any

from plait.compiler import Plan, to_dot, to_mermaid

from .conftest import compile_data

FETCH: dict[str, Any] = {
    "name": "fetch",
    "steps": [
        {"id": "start", "tool": "noop"},
        {
            "id": "parallel_fetch",
            "dependsOn": ["start"],
            "parallelGroup": {"steps": ["users", "orders"], "waitStrategy": "any"},
        },
        {"id": "users", "tool": "echo"},
        {"id": "orders", "tool": "echo"},
        {"id": "aggregate", "tool": "noop", "dependsOn": ["parallel_fetch"]},
    ],
}


def mermaid_graph(plan: Plan) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Parse Mermaid output back: mermaid node id -> step id, and edges as step ids."""
    text = to_mermaid(plan)
    nodes = {m[1]: m[2] for m in re.finditer(r'^\s*(?:subgraph )?(\S+)\["(\S+)', text, re.M)}
    edges = {(nodes[m[1]], nodes[m[2]]) for m in re.finditer(r"^\s*(\S+) --> (\S+)$", text, re.M)}
    return nodes, edges


def dot_edges(plan: Plan) -> set[tuple[str, str]]:
    return set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)"', to_dot(plan), re.M))


def test_mermaid_is_a_flowchart_with_every_step_and_edge() -> None:
    plan = compile_data(FETCH)
    text = to_mermaid(plan)
    assert text.startswith("flowchart TD\n")
    nodes, edges = mermaid_graph(plan)
    assert sorted(nodes.values()) == ["aggregate", "orders", "parallel_fetch", "start", "users"]
    assert edges == {("start", "parallel_fetch"), ("parallel_fetch", "aggregate")}


def test_mermaid_draws_a_group_as_a_subgraph_of_its_members() -> None:
    text = to_mermaid(compile_data(FETCH))
    body = re.search(r'subgraph \S+\["parallel_fetch \[any\]"\]\n(.*?)\n\s*end\n', text, re.S)
    assert body is not None
    assert '"users (echo)"' in body[1]
    assert '"orders (echo)"' in body[1]
    assert "aggregate" not in body[1]


def test_mermaid_keeps_steps_apart_whose_ids_differ_only_by_dash_and_underscore() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "a-b", "tool": "noop"},
                {"id": "a_b", "tool": "noop", "dependsOn": ["a-b"]},
            ],
        }
    )
    nodes, edges = mermaid_graph(plan)
    assert len(nodes) == 2
    assert edges == {("a-b", "a_b")}


def test_mermaid_node_ids_are_never_keywords() -> None:
    # `end` as a Mermaid node id closes the flowchart.
    plan = compile_data({"name": "w", "steps": [{"id": "end", "tool": "noop"}]})
    nodes, _ = mermaid_graph(plan)
    assert list(nodes.values()) == ["end"]
    assert "end" not in nodes


def test_dot_is_a_digraph_with_every_step_and_edge() -> None:
    plan = compile_data(FETCH)
    text = to_dot(plan)
    assert text.startswith('digraph "fetch" {')
    assert text.rstrip().endswith("}")
    for step, tool in [("start", "noop"), ("users", "echo"), ("aggregate", "noop")]:
        assert f'"{step}" [label="{step} ({tool})"];' in text
    assert dot_edges(plan) == {("start", "parallel_fetch"), ("parallel_fetch", "aggregate")}


def test_dot_draws_a_group_as_a_cluster() -> None:
    text = to_dot(compile_data(FETCH))
    assert 'subgraph "cluster_parallel_fetch" {' in text
    assert 'label="parallel_fetch [any]";' in text
    assert '"parallel_fetch" -> "aggregate" [ltail="cluster_parallel_fetch"];' in text


def test_dot_escapes_quotes_in_the_workflow_name() -> None:
    text = to_dot(compile_data({"name": 'say "hi"', "steps": []}))
    assert text.startswith('digraph "say \\"hi\\"" {')


def test_graph_with_implicit_dependencies_shows_them() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "echo", "input": "${a.output}"},
            ],
        }
    )
    assert dot_edges(plan) == {("a", "b")}
    assert mermaid_graph(plan)[1] == {("a", "b")}


def test_nested_groups_are_nested_subgraphs_and_clusters() -> None:
    plan = compile_data(
        {
            "name": "nest",
            "steps": [
                {"id": "outer", "parallelGroup": {"steps": ["inner", "c"]}},
                {"id": "inner", "parallelGroup": {"steps": ["a"], "waitStrategy": "race"}},
                {"id": "a", "tool": "noop"},
                {"id": "c", "tool": "noop"},
            ],
        }
    )
    mermaid = to_mermaid(plan)
    outer = re.search(r'subgraph \S+\["outer \[all\]"\]\n(.*)\n    end\n', mermaid, re.S)
    assert outer is not None
    assert re.search(r'subgraph \S+\["inner \[race\]"\]\n\s+\S+\["a \(noop\)"\]\n\s+end', outer[1])
    assert mermaid.count("subgraph") == 2
    dot = to_dot(plan)
    outer_at = dot.index('subgraph "cluster_outer"')
    inner_at = dot.index('subgraph "cluster_inner"')
    assert outer_at < inner_at < dot.index('"a" [label="a (noop)"];')


ROUTED: dict[str, Any] = {
    "name": "routed",
    "inputs": {"big": {"type": "boolean"}},
    "steps": [
        {"id": "route", "switch": [{"when": "inputs.big", "next": "big"}, {"default": "small"}]},
        {"id": "big", "tool": "noop", "onError": "rescue"},
        {"id": "small", "tool": "noop"},
        {"id": "rescue", "tool": "noop"},
    ],
}


def test_routes_are_drawn_as_routes() -> None:
    plan = compile_data(ROUTED)
    mermaid = to_mermaid(plan)
    assert 'route_0{"route (switch)"}' in mermaid
    assert "route_0 -->|route| big_1" in mermaid
    assert "route_0 -->|route| small_2" in mermaid
    assert "big_1 -. onError .-> rescue_3" in mermaid
    dot = to_dot(plan)
    assert '"route" [label="route (switch)", shape=diamond];' in dot
    assert '"route" -> "big" [label="route"];' in dot
    assert '"big" -> "rescue" [label="onError", style=dashed];' in dot


def test_maps_loops_sub_workflows_and_waits_are_labelled_by_kind() -> None:
    plan = compile_data(
        {
            "name": "kinds",
            "steps": [
                {"id": "m", "parallel": {"count": 2, "steps": [{"id": "b", "tool": "noop"}]}},
                {
                    "id": "l",
                    "loop": {"type": "for", "count": 2, "steps": [{"id": "p", "tool": "noop"}]},
                },
                {"id": "w", "wait": "go"},
            ],
        }
    )
    text = to_mermaid(plan)
    assert '["m (map)"]' in text
    assert '["l (loop for)"]' in text
    assert '["w (wait go)"]' in text
    assert "(?)" not in text
