"""Issue 13: every problem says FILE:LINE:COLUMN and, for a misspelt name, what was meant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import plait

from .conftest import Invoke, Write

SLEEP_TYPO = """\
name: w
steps:
  - id: wait
    tool: sleep
    input: {duraton: 1s}
"""

TOOL_TYPO = """\
name: w
steps:
  - id: say
    tool: ecoh
    input: hi
"""

REFERENCE_TYPO = """\
name: w
steps:
  - id: fetch_users
    tool: echo
    input: [1, 2]
  - id: count
    tool: echo
    input:
      users: ${fetch_user.output}
"""

CASES = {
    "sleep input key": (
        SLEEP_TYPO,
        "5:13: step 'wait': key 'input.duraton': the sleep tool has no input 'duraton'; "
        "did you mean 'duration'?",
    ),
    "tool name": (
        TOOL_TYPO,
        "4:5: step 'say': key 'tool': unknown tool 'ecoh'; did you mean 'echo'?",
    ),
    "step reference": (
        REFERENCE_TYPO,
        "9:7: step 'count': key 'input': unknown name 'fetch_user': expected a step id, "
        "inputs, env, run or workflow in ${fetch_user.output}; did you mean 'fetch_users'?",
    ),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_typo_is_one_line_with_its_position_and_a_did_you_mean(
    plait_cli: Invoke, write: Write, case: str, command: str
) -> None:
    text, expected = CASES[case]
    path = write("wf.yaml", text)
    args = ("run", path, "--store", "memory://") if command == "run" else ("validate", path)
    outcome = plait_cli(*args)
    assert outcome.exit_code == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert outcome.problems() == [f"{path}:{expected}"]
    assert "1 problem found; nothing was run." in outcome.stderr


def _as_json(text: str) -> str:
    """The workflow as JSON, one key to a line (so lines and columns can be counted)."""
    import yaml

    return json.dumps(yaml.safe_load(text), indent=2)


@pytest.mark.parametrize(
    ("case", "words", "at"),
    [
        ("sleep input key", "no input 'duraton'; did you mean 'duration'?", '"duraton"'),
        ("tool name", "unknown tool 'ecoh'; did you mean 'echo'?", '"tool"'),
        ("step reference", "did you mean 'fetch_users'?", '"users"'),
    ],
)
def test_the_same_in_a_json_file(
    plait_cli: Invoke, write: Write, case: str, words: str, at: str
) -> None:
    text = _as_json(CASES[case][0])
    path = write("wf.json", text)
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 2
    [problem] = outcome.problems()
    # the position is where the offending key is written in the JSON text
    lines = text.splitlines()
    line = next(i for i, row in enumerate(lines, 1) if at in row)
    column = lines[line - 1].index(at) + 1
    assert problem.startswith(f"{path}:{line}:{column}: ")
    assert words in problem


def test_problems_of_every_kind_are_reported_together(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """\
        name: w
        maxDuraton: 1m
        steps:
          - id: fetch_users
            tool: echo
          - id: wait
            tool: sleep
            input: {duration: soon}
          - id: say
            tool: ecoh
            dependsOn: [fetch_user]
          - id: late
            tool: noop
            timout: 3s
          - id: use
            tool: echo
            input: ${fetch_user.output}
        """,
    )
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 2
    assert sorted(outcome.problems()) == sorted(
        [
            f"{path}:2:1: key 'maxDuraton': unknown key; did you mean 'maxDuration'?",
            f"{path}:14:5: step 'late': key 'timout': unknown key; did you mean 'timeout'?",
            f"{path}:8:13: step 'wait': key 'input.duration': the sleep tool's 'duration' is "
            "a duration (30s, 5m, 1.5), not 'soon'",
            f"{path}:10:5: step 'say': key 'tool': unknown tool 'ecoh'; did you mean 'echo'?",
            f"{path}:11:17: step 'say': key 'dependsOn': unknown step 'fetch_user'; "
            "did you mean 'fetch_users'?",
            f"{path}:17:5: step 'use': key 'input': unknown name 'fetch_user': expected a step "
            "id, inputs, env, run or workflow in ${fetch_user.output}; did you mean "
            "'fetch_users'?",
        ]
    )
    assert "6 problems found; nothing was run." in outcome.stderr


def test_a_nested_step_of_a_map_is_found(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """\
        name: w
        steps:
          - id: each
            parallel:
              items: [1, 2]
              steps:
                - id: inner
                  tool: sleep
                  input:
                    duration: 1s
                    ouptut: x
        """,
    )
    outcome = plait_cli("validate", path)
    assert outcome.problems() == [
        f"{path}:11:13: step 'inner': key 'input.ouptut': the sleep tool has no input "
        "'ouptut'; did you mean 'output'?"
    ]


def _python_workflow(tmp_path: Path, function: str) -> Path:
    (tmp_path / "mymod_for_positions.py").write_text("def process(x=1):\n    return x\n")
    path = tmp_path / "wf.yaml"
    path.write_text(
        f"name: w\nsteps:\n  - id: call\n    tool: python\n    input:\n      function: {function}\n"
    )
    return path


def test_a_python_function_typo_is_found_at_validation(plait_cli: Invoke, tmp_path: Path) -> None:
    path = _python_workflow(tmp_path, "mymod_for_positions:procss")
    for args in (("validate", path), ("run", path, "--store", "memory://")):
        outcome = plait_cli(*args)
        assert outcome.exit_code == 2
        assert outcome.problems() == [
            f"{path}:6:7: step 'call': key 'input.function': 'mymod_for_positions' has no "
            "attribute 'procss'; did you mean 'process'?"
        ]
    good = _python_workflow(tmp_path, "mymod_for_positions:process")
    assert plait_cli("validate", good).exit_code == 0


def test_a_module_that_cannot_be_imported_yet_is_left_to_the_run(
    plait_cli: Invoke, tmp_path: Path
) -> None:
    path = _python_workflow(tmp_path, "not_written_yet_xyz:process")
    assert plait_cli("validate", path).exit_code == 0


def test_a_value_given_by_an_expression_is_checked_when_the_step_runs(
    plait_cli: Invoke, write: Write
) -> None:
    path = write(
        "wf.yaml",
        """\
        name: w
        inputs:
          d: {type: string}
        steps:
          - id: wait
            tool: sleep
            input: {duration: "${inputs.d}"}
        """,
    )
    assert plait_cli("validate", path).exit_code == 0
    outcome = plait_cli("run", path, "--store", "memory://", "-i", "d=soon")
    assert outcome.exit_code == 1
    assert "'duration'" in outcome.stderr + outcome.stdout


def test_a_workflow_built_in_python_keeps_its_messages() -> None:
    wf = plait.Workflow.from_dict(
        {"name": "w", "steps": [{"id": "wait", "tool": "sleep", "input": {"duraton": 1}}]}
    )
    with pytest.raises(plait.ValidationError) as raised:
        wf.validate()
    assert str(raised.value) == (
        "<workflow>: step 'wait': key 'input.duraton': the sleep tool has no input "
        "'duraton'; did you mean 'duration'?"
    )
    [problem] = raised.value.problems
    assert (problem.line, problem.column) == (None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nsteps:\n  - id: a\n    tool: echo\n   input: 1\n",
            "5:4: invalid YAML: this line's indentation does not match the lines above it",
        ),
        (
            "name: x\nsteps: [\n",
            "3:1: invalid YAML: the file ends where more was expected: "
            "is a '[', a '{' or a quote not closed?",
        ),
        ("name: x\nsteps:\n\t- id: a\n", "3:1: invalid YAML: a tab: YAML indents with spaces"),
        (
            "name: a: b\n",
            "1:8: invalid YAML: a ':' where a value was expected: quote the value "
            "if it holds ': ', or check the indentation",
        ),
    ],
)
def test_yaml_syntax_errors_are_in_plaits_words(
    plait_cli: Invoke, write: Write, text: str, expected: str
) -> None:
    path = write("wf.yaml", text)
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 2
    assert outcome.problems() == [f"{path}:{expected}"]
