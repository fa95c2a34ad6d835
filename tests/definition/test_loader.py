"""Loading YAML and JSON files into definitions, and the problems found on the way."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from plait.definition import WaitStrategy, load_definition, parse_definition
from plait.errors import LoadError, Problem

Write = Callable[[str, str], Path]


def problems_of(data: object) -> list[Problem]:
    loaded = parse_definition(data, file="wf.yaml")
    return loaded.problems


def test_yaml_file_loads_with_its_source(write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: hello
        steps:
          - id: a
            tool: echo
            input: {x: 1}
        """,
    )
    loaded = load_definition(path)
    assert loaded.problems == []
    assert loaded.definition is not None
    assert loaded.definition.name == "hello"
    assert [s.id for s in loaded.definition.steps] == ["a"]
    assert loaded.definition.steps[0].input == {"x": 1}
    assert loaded.source is not None
    assert "name: hello" in loaded.source
    assert loaded.file == str(path)


def test_json_file_loads(write: Write) -> None:
    path = write("wf.json", '{"name": "j", "steps": [{"id": "a", "toolName": "noop"}]}')
    loaded = load_definition(path)
    assert loaded.problems == []
    assert loaded.definition is not None
    assert loaded.definition.steps[0].tool == "noop"


def test_json_file_is_parsed_as_json_not_yaml(write: Write) -> None:
    path = write("wf.json", "name: only-yaml\nsteps: []\n")
    with pytest.raises(LoadError, match=r"wf.json:1:1: invalid JSON: a value was expected here"):
        load_definition(path)


def test_invalid_yaml_names_the_file_and_line(write: Write) -> None:
    path = write("wf.yaml", "name: x\nsteps:\n  - id: a\n    tool: echo\n   bad: [\n")
    with pytest.raises(LoadError) as info:
        load_definition(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert (problem.line, problem.column) == (5, 4)
    assert problem.message.startswith("invalid YAML: ")


def test_invalid_json_names_the_file_and_line(write: Write) -> None:
    path = write("wf.json", '{"name": "x",\n "steps": [}\n')
    with pytest.raises(LoadError) as info:
        load_definition(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert (problem.line, problem.column) == (2, 12)
    assert problem.message.startswith("invalid JSON: ")


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(LoadError) as info:
        load_definition(path)
    assert info.value.problems == [Problem("no such file", file=str(path))]


def test_a_key_given_twice_in_yaml_is_an_error(write: Write) -> None:
    # PyYAML alone keeps the last value and drops the first without a word.
    path = write("wf.yaml", "name: w\nsteps:\n  - id: a\n    dependsOn: [x]\n    dependsOn: [y]\n")
    with pytest.raises(LoadError) as info:
        load_definition(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert (problem.line, problem.column) == (5, 5)
    assert problem.message == "invalid YAML: the key 'dependsOn' is given twice"


def test_a_key_given_twice_in_json_is_an_error(write: Write) -> None:
    path = write("wf.json", '{"name": "w", "steps": [{"id": "a", "tool": "noop", "tool": "echo"}]}')
    with pytest.raises(LoadError, match="invalid JSON: the key 'tool' is given twice"):
        load_definition(path)


def test_yaml_merge_keys_may_be_overridden(write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: w
        steps:
          - &base {id: a, tool: echo, timeout: 1s}
          - <<: *base
            id: b
            timeout: 2s
        """,
    )
    loaded = load_definition(path)
    assert loaded.problems == []
    assert loaded.definition is not None
    b = loaded.definition.steps[1]
    assert (b.id, b.tool, b.timeout) == ("b", "echo", 2.0)


def test_a_step_that_is_not_a_mapping() -> None:
    [problem] = problems_of({"name": "w", "steps": ["fetch", {"id": "a", "tool": "noop"}]})
    assert problem.step == "#1"
    assert problem.message == "a step is a mapping with an 'id'; this one is a string"


@pytest.mark.parametrize(
    ("data", "what"),
    [(None, "empty"), ([1, 2], "a list"), ("hello", "a string"), (42, "a number")],
)
def test_document_that_is_not_a_mapping_is_one_problem(data: object, what: str) -> None:
    loaded = parse_definition(data, file="wf.yaml")
    assert loaded.definition is None
    [problem] = loaded.problems
    assert problem.file == "wf.yaml"
    assert f"this one is {what}" in problem.message


@pytest.mark.parametrize(
    ("step", "first", "second"),
    [
        ({"tool": "echo", "dependsOn": ["b"], "depends_on": ["b"]}, "dependsOn", "depends_on"),
        ({"tool": "echo", "toolName": "echo"}, "tool", "toolName"),
        (
            {"tool": "echo", "continueOnError": True, "continue_on_error": True},
            "continueOnError",
            "continue_on_error",
        ),
        (
            {"type": "parallel", "parallel_steps": [], "nextStep": "b", "next_step": "b"},
            "nextStep",
            "next_step",
        ),
    ],
)
def test_both_spellings_of_a_step_key_is_an_error(step: dict, first: str, second: str) -> None:
    [problem] = problems_of(
        {"name": "w", "steps": [{"id": "a", **step}, {"id": "b", "tool": "noop"}]}
    )
    assert problem.step == "a"
    assert f"both '{first}' and '{second}' are given" in problem.message


def test_both_spellings_inside_a_group_is_an_error() -> None:
    group = {"steps": ["b"], "waitStrategy": "all", "wait_strategy": "any"}
    [problem] = problems_of(
        {"name": "w", "steps": [{"id": "g", "parallelGroup": group}, {"id": "b", "tool": "noop"}]}
    )
    assert problem.step == "g"
    assert problem.key == "parallelGroup"
    assert "both 'waitStrategy' and 'wait_strategy' are given" in problem.message


def test_both_spellings_at_top_level_is_an_error() -> None:
    [problem] = problems_of({"name": "w", "maxDuration": "1m", "max_duration": "1m", "steps": []})
    assert problem.step is None
    assert "both 'maxDuration' and 'max_duration' are given" in problem.message


def test_each_object_may_use_its_own_spelling() -> None:
    loaded = parse_definition(
        {
            "name": "w",
            "steps": [
                {"id": "a", "toolName": "noop", "continueOnError": True},
                {"id": "b", "tool": "noop", "continue_on_error": True, "depends_on": ["a"]},
            ],
        }
    )
    assert loaded.problems == []
    assert loaded.definition is not None
    a, b = loaded.definition.steps
    assert a.continue_on_error
    assert b.continue_on_error
    assert b.depends_on == ["a"]


def test_unknown_key_is_named_as_written() -> None:
    [problem] = problems_of({"name": "w", "steps": [{"id": "a", "tool": "noop", "tmeout": 5}]})
    assert (problem.step, problem.key, problem.message) == (
        "a",
        "tmeout",
        "unknown key; did you mean 'timeout'?",
    )


def test_problem_keys_use_the_users_camel_case_spelling() -> None:
    problems = problems_of(
        {
            "name": "w",
            "steps": [
                {"id": "g", "parallelGroup": {"steps": ["a"], "waitStrategy": "bogus"}},
                {"id": "a", "toolName": "noop", "dependsOn": [7], "retry": {"maxAttempts": 0}},
            ],
        }
    )
    keys = {(p.step, p.key) for p in problems}
    assert keys == {
        ("g", "parallelGroup.waitStrategy"),
        ("a", "dependsOn[0]"),
        ("a", "retry.maxAttempts"),
    }


def test_problem_keys_use_the_users_snake_case_spelling() -> None:
    [problem] = problems_of(
        {"name": "w", "steps": [{"id": "g", "parallel_group": {"steps": [], "wait_strategy": "x"}}]}
    )
    assert problem.key == "parallel_group.wait_strategy"
    assert "unknown value 'x'" in problem.message


def test_every_bad_step_is_reported_not_just_the_first() -> None:
    problems = problems_of(
        {
            "name": "w",
            "steps": [
                {"id": "a", "tool": "noop", "timeout": "5x"},
                {"id": "b", "tool": "noop"},
                {"id": "c", "tool": "noop", "retry": "often"},
                {"tool": "noop"},
            ],
        }
    )
    assert [(p.step, p.key) for p in problems] == [
        ("a", "timeout"),
        ("c", "retry"),
        ("#4", "id"),
    ]
    assert all(p.file == "wf.yaml" for p in problems)


def test_missing_workflow_name_is_reported() -> None:
    [problem] = problems_of({"steps": []})
    assert (problem.key, problem.message) == ("name", "required key is missing")


def test_a_step_needs_a_kind() -> None:
    [problem] = problems_of({"name": "w", "steps": [{"id": "a", "input": 1}]})
    assert problem.step == "a"
    assert "a step needs one of 'tool'" in problem.message


def test_a_step_is_exactly_one_kind() -> None:
    [problem] = problems_of(
        {"name": "w", "steps": [{"id": "a", "tool": "noop", "parallelGroup": {"steps": []}}]}
    )
    assert "exactly one kind" in problem.message


def test_step_id_must_be_a_name() -> None:
    [problem] = problems_of({"name": "w", "steps": [{"id": "a b", "tool": "noop"}]})
    assert (problem.step, problem.key) == ("a b", "id")


def test_all_settled_accepts_the_snake_case_spelling() -> None:
    loaded = parse_definition(
        {
            "name": "w",
            "steps": [{"id": "g", "parallelGroup": {"steps": [], "waitStrategy": "all_settled"}}],
        }
    )
    assert loaded.definition is not None
    group = loaded.definition.steps[0].group()
    assert group is not None
    assert group.wait_strategy is WaitStrategy.ALL_SETTLED


def test_input_shorthand_is_a_default() -> None:
    loaded = parse_definition({"name": "w", "inputs": {"n": 5}, "steps": []})
    assert loaded.definition is not None
    spec = loaded.definition.inputs["n"]
    assert (spec.type, spec.default, spec.is_required) == ("any", 5, False)


def test_input_without_default_is_required() -> None:
    loaded = parse_definition({"name": "w", "inputs": {"n": {"type": "integer"}}, "steps": []})
    assert loaded.definition is not None
    assert loaded.definition.inputs["n"].is_required


def test_a_megabyte_long_unknown_key_is_reported_in_a_readable_line(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    key = "k" * 1_000_000
    path.write_text(json.dumps({"name": "w", "steps": [{"id": "a", "tool": "echo", key: 1}]}))
    problems = load_definition(path).problems
    assert problems
    line = problems[0].render()
    assert len(line) < 2_000
    assert "characters]" in line
