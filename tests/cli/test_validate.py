"""``plait validate FILE``: every problem with file, step and key; exit 2; nothing run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Invoke, Write


def assert_invalid(outcome, count: int) -> None:
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.stderr
    noun = "problem" if count == 1 else "problems"
    assert f"{count} {noun} found; nothing was run." in outcome.stderr
    assert len(outcome.problems()) == count


def test_valid_file_is_ok(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: fine
        steps:
          - id: g
            parallelGroup: {steps: [a, b]}
          - {id: a, tool: echo}
          - {id: b, tool: noop}
          - {id: c, tool: noop, dependsOn: [g]}
        """,
    )
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 0
    assert outcome.stderr == ""
    assert outcome.stdout == f"{path}: ok: workflow 'fine', 3 tasks, 1 groups\n"


STEP_PROBLEMS = {
    "unknown dependsOn": (
        "- {id: a, tool: noop, dependsOn: [ghost]}",
        "a",
        "dependsOn",
        "unknown step 'ghost'",
    ),
    "unknown group member": (
        "- {id: g, parallelGroup: {steps: [ghost]}}",
        "g",
        "parallelGroup.steps",
        "unknown step 'ghost'",
    ),
    "unknown parallel_steps member": (
        "- {id: g, type: parallel, parallel_steps: [ghost]}",
        "g",
        "parallel_steps",
        "unknown step 'ghost'",
    ),
    "unknown next_step": (
        "- {id: a, tool: noop, next_step: ghost}",
        "a",
        "next_step",
        "unknown step 'ghost'",
    ),
    "duplicate id": (
        "- {id: a, tool: noop}\n- {id: a, tool: echo}",
        "a",
        "id",
        "duplicate step id 'a'",
    ),
    "cycle": (
        "- {id: a, tool: noop, dependsOn: [c]}\n"
        "- {id: b, tool: noop, dependsOn: [a]}\n"
        "- {id: c, tool: noop, dependsOn: [b]}",
        "a",
        "dependsOn",
        "dependency cycle: a -> b -> c -> a",
    ),
    "member depends on its group": (
        "- {id: g, parallelGroup: {steps: [m]}}\n- {id: m, tool: noop, dependsOn: [g]}",
        "g",
        "dependsOn",
        "dependency cycle: g -> m -> g",
    ),
    "step in two groups": (
        "- {id: g1, parallelGroup: {steps: [m]}}\n"
        "- {id: g2, parallelGroup: {steps: [m]}}\n"
        "- {id: m, tool: noop}",
        "g2",
        "parallelGroup.steps",
        "step 'm' is already a member of group 'g1'",
    ),
    "unknown tool": (
        "- {id: a, toolName: teleport}",
        "a",
        "tool",
        "unknown tool 'teleport'",
    ),
    "unknown wait strategy": (
        "- {id: g, parallelGroup: {steps: [], waitStrategy: sometimes}}",
        "g",
        "parallelGroup.waitStrategy",
        "unknown value 'sometimes'",
    ),
    "unknown seed 002 wait strategy": (
        "- {id: g, type: parallel, parallel_steps: [], wait_strategy: sometimes}",
        "g",
        "wait_strategy",
        "unknown value 'sometimes'",
    ),
    "bad duration": (
        "- {id: a, tool: noop, timeout: 5 minutes}",
        "a",
        "timeout",
        "bad duration '5 minutes'",
    ),
    "empty any group": (
        "- {id: g, parallelGroup: {steps: [], waitStrategy: any}}",
        "g",
        "parallelGroup.steps",
        "an empty 'any' group can never succeed",
    ),
    "empty race group": (
        "- {id: g, type: parallel, parallel_steps: [], wait_strategy: race}",
        "g",
        "parallel_steps",
        "an empty 'race' group can never succeed",
    ),
    "reference to an unknown step": (
        "- {id: a, tool: echo, input: {x: '${nobody.output}'}}",
        "a",
        "input",
        "unknown name 'nobody'",
    ),
    "reference to an undeclared input": (
        "- {id: a, tool: echo, input: 'n is ${inputs.m}'}",
        "a",
        "input",
        "unknown input 'm'",
    ),
    "unknown key": (
        "- {id: a, tool: noop, dependOn: [b]}",
        "a",
        "dependOn",
        "unknown key",
    ),
}


@pytest.mark.parametrize(
    ("steps", "step", "key", "message"), STEP_PROBLEMS.values(), ids=STEP_PROBLEMS.keys()
)
def test_each_problem_names_file_step_and_key(
    plait_cli: Invoke, write: Write, steps: str, step: str, key: str, message: str
) -> None:
    path = write(
        "wf.yaml", "name: w\nsteps:\n" + "".join(f"  {line}\n" for line in steps.split("\n"))
    )
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 1)
    [problem] = outcome.problems()
    assert re.match(
        rf"{re.escape(str(path))}:\d+:\d+: step '{step}': key '{re.escape(key)}': ", problem
    )
    assert message in problem


def test_both_spellings_of_one_key(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        "name: w\nsteps:\n  - {id: a, tool: noop, dependsOn: [], depends_on: []}\n",
    )
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 1)
    [problem] = outcome.problems()
    assert problem.startswith(f"{path}:3:5: step 'a': ")
    assert "both 'dependsOn' and 'depends_on' are given" in problem


@pytest.mark.parametrize("strategy", ["all", "allSettled"])
def test_empty_all_or_all_settled_group_is_valid(
    plait_cli: Invoke, write: Write, strategy: str
) -> None:
    path = write(
        "wf.yaml",
        f"name: w\nsteps:\n  - {{id: g, parallelGroup: {{steps: [], waitStrategy: {strategy}}}}}\n",
    )
    assert plait_cli("validate", path).exit_code == 0


def test_every_problem_is_reported_not_just_the_first(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: many
        inputs:
          n: {type: integer, default: 1}
        steps:
          - {id: a, tool: noop, dependsOn: [ghost]}
          - {id: a, tool: noop}
          - {id: b, tool: teleport, next_step: nowhere}
          - {id: g1, parallelGroup: {steps: [m, phantom]}}
          - {id: g2, type: parallel, parallel_steps: [m]}
          - {id: m, tool: noop}
          - {id: r, parallelGroup: {steps: [], waitStrategy: race}}
          - {id: e, tool: echo, input: "${nobody.output} ${inputs.zz}"}
          - {id: t, tool: noop, timeout: soon}
          - {id: w, parallelGroup: {steps: [], waitStrategy: sometimes}}
          - {id: x, tool: noop, dependsOn: [y]}
          - {id: y, tool: noop, dependsOn: [x]}
        """,
    )
    outcome = plait_cli("validate", path)
    expected = [
        ("t", "timeout", "bad duration 'soon'"),
        ("w", "parallelGroup.waitStrategy", "unknown value 'sometimes'"),
        ("a", "id", "duplicate step id 'a'"),
        ("g1", "parallelGroup.steps", "unknown step 'phantom'"),
        ("g2", "parallel_steps", "step 'm' is already a member of group 'g1'"),
        ("r", "parallelGroup.steps", "an empty 'race' group"),
        ("a", "dependsOn", "unknown step 'ghost'"),
        ("b", "next_step", "unknown step 'nowhere'"),
        ("b", "tool", "unknown tool 'teleport'"),
        ("e", "input", "unknown name 'nobody'"),
        ("e", "input", "unknown input 'zz'"),
        ("x", "dependsOn", "dependency cycle: x -> y -> x"),
    ]
    assert_invalid(outcome, len(expected))
    problems = outcome.problems()
    for step, key, message in expected:
        prefix = rf"{re.escape(str(path))}:\d+:\d+: step '{step}': key '{re.escape(key)}': "
        assert any(re.match(prefix, p) and message in p for p in problems), (step, key, message)


def test_invalid_yaml_syntax_names_the_line(plait_cli: Invoke, write: Write) -> None:
    path = write("wf.yaml", "name: x\nsteps:\n  - id: a\n    tool: echo\n   bad: [\n")
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 1)
    assert outcome.problems()[0].startswith(f"{path}:5:4: invalid YAML: ")


def test_invalid_json_syntax_names_the_line(plait_cli: Invoke, write: Write) -> None:
    path = write("wf.json", '{\n  "name": "x",\n  "steps": [,]\n}\n')
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 1)
    assert outcome.problems()[0] == f"{path}:3:13: invalid JSON: a value was expected here"


def test_missing_file(plait_cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 1)
    assert outcome.problems() == [f"{path}: no such file"]


@pytest.mark.parametrize(
    ("text", "what"), [("- a\n- b\n", "a list"), ("just text\n", "a string"), ("", "empty")]
)
def test_document_that_is_not_a_mapping(
    plait_cli: Invoke, write: Write, text: str, what: str
) -> None:
    path = write("wf.yaml", text)
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 1)
    assert outcome.problems() == [
        f"{path}: a workflow is a mapping with 'name' and 'steps'; this one is {what}"
    ]


def test_problem_text_that_looks_like_markup_is_printed_as_is(
    plait_cli: Invoke, write: Write
) -> None:
    # Rich markup in a user's text must neither crash the CLI nor vanish from the message.
    path = write(
        "wf.yaml", 'name: w\nsteps:\n  - {id: a, tool: noop, dependsOn: ["[/x]", "[bold]y"]}\n'
    )
    outcome = plait_cli("validate", path)
    assert_invalid(outcome, 2)
    assert any("unknown step '[/x]'" in p for p in outcome.problems())
    assert any("unknown step '[bold]y'" in p for p in outcome.problems())


def test_ok_line_is_not_wrapped_for_a_long_path(plait_cli: Invoke, tmp_path: Path) -> None:
    folder = tmp_path / ("a-folder-with-a-long-name-" * 4)
    folder.mkdir()
    path = folder / "wf.yaml"
    path.write_text("name: w\nsteps: [{id: a, tool: noop}]\n", encoding="utf-8")
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 0
    assert outcome.stdout == f"{path}: ok: workflow 'w', 1 tasks, 0 groups\n"
