"""``plait run FILE --json``: the run document of SPEC §4, exit codes, inputs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from .conftest import Invoke, Marker, Write

ISO_UTC_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(\+00:00|Z)$")
STEP_KEYS = {"status", "output", "error", "attempts", "started_at", "finished_at", "duration_ms"}
GROUP_KEYS = {
    "groupId",
    "completedSteps",
    "failedSteps",
    "skippedSteps",
    "success",
    "duration",
    "winner",
}
STATS_KEYS = {
    "tasksCompleted",
    "tasksFailed",
    "tasksTimedOut",
    "totalWaitTime",
    "averageWaitTime",
    "activeWorkers",
    "queueLength",
}

GROUPED = """
name: grouped
steps:
  - id: fetch
    parallelGroup: {id: fetch_all, steps: [a, b], waitStrategy: all}
  - {id: a, tool: echo, input: {v: 1}}
  - {id: b, tool: echo, input: {v: 2}}
  - id: total
    tool: echo
    dependsOn: [fetch]
    input: {sum: ["${a.output.v}", "${b.output.v}"]}
outputs:
  sum: ${total.output.sum}
"""


def assert_utc_micros(stamp: str) -> datetime:
    assert ISO_UTC_MICROS.match(stamp), stamp
    moment = datetime.fromisoformat(stamp)
    assert moment.utcoffset() == timedelta(0)
    return moment


def test_json_document_has_the_spec_keys(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("run", write("wf.yaml", GROUPED), "--json")
    assert outcome.exit_code == 0
    doc = outcome.json()
    assert {
        "run_id",
        "workflow",
        "status",
        "duration_ms",
        "outputs",
        "error",
        "steps",
        "groups",
        "stats",
    } <= doc.keys()
    assert isinstance(doc["run_id"], str)
    assert doc["run_id"]
    assert doc["workflow"] == "grouped"
    assert doc["status"] == "succeeded"
    assert doc["error"] is None
    assert doc["duration_ms"] >= 0
    assert doc["outputs"] == {"sum": [1, 2]}
    assert set(doc["steps"]) == {"fetch", "a", "b", "total"}
    for step in doc["steps"].values():
        assert step.keys() >= STEP_KEYS
    assert doc["stats"].keys() >= STATS_KEYS
    assert doc["stats"]["tasksCompleted"] == 3
    assert doc["stats"]["tasksFailed"] == 0
    assert doc["stats"]["queueLength"] == 0


def test_json_document_records_each_step(plait_cli: Invoke, write: Write) -> None:
    doc = plait_cli("run", write("wf.yaml", GROUPED), "--json").json()
    a = doc["steps"]["a"]
    assert a["status"] == "succeeded"
    assert a["output"] == {"v": 1}
    assert a["error"] is None
    assert a["attempts"] == 1
    started = assert_utc_micros(a["started_at"])
    finished = assert_utc_micros(a["finished_at"])
    assert started <= finished
    assert a["duration_ms"] >= 0


def test_json_document_records_each_group(plait_cli: Invoke, write: Write) -> None:
    doc = plait_cli("run", write("wf.yaml", GROUPED), "--json").json()
    assert set(doc["groups"]) == {"fetch_all"}
    group = doc["groups"]["fetch_all"]
    assert group.keys() >= GROUP_KEYS
    assert group["groupId"] == "fetch_all"
    assert sorted(group["completedSteps"]) == ["a", "b"]
    assert group["failedSteps"] == []
    assert group["skippedSteps"] == []
    assert group["success"] is True
    assert group["duration"] >= 0
    assert group["winner"] is None


def test_every_timestamp_is_iso_utc_with_microseconds(plait_cli: Invoke, write: Write) -> None:
    doc = plait_cli("run", write("wf.yaml", GROUPED), "--json").json()
    stamps = [s[k] for s in doc["steps"].values() for k in ("started_at", "finished_at")]
    stamps += [doc[k] for k in ("started_at", "finished_at") if k in doc]
    assert len(stamps) >= 8
    for stamp in stamps:
        assert_utc_micros(stamp)


def test_stdout_is_exactly_one_json_document(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("run", write("wf.yaml", GROUPED), "--json")
    assert outcome.stdout.endswith("}\n")
    assert outcome.stdout.count("\n") == 1
    json.loads(outcome.stdout)  # raises on anything before or after the document


def test_a_failed_run_exits_1_with_the_error(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: failing
        steps:
          - {id: ok, tool: echo, input: 1}
          - {id: boom, tool: fail, dependsOn: [ok], input: {message: it broke, type: Kaboom}}
          - {id: after, tool: echo, dependsOn: [boom]}
        """,
    )
    outcome = plait_cli("run", path, "--json")
    assert outcome.exit_code == 1
    doc = outcome.json()
    assert doc["status"] == "failed"
    # Every key of an error is there, null when empty (fail's code is plait's own:
    # there is no traceback of the user's code to show).
    error = {
        "type": "Kaboom",
        "message": "it broke",
        "step": "boom",
        "status": None,
        "details": None,
        "cause": None,
        "traceback": None,
    }
    assert doc["error"] == error
    assert doc["outputs"] is None
    assert doc["steps"]["ok"]["status"] == "succeeded"
    assert doc["steps"]["boom"]["status"] == "failed"
    assert doc["steps"]["boom"]["error"] == error
    assert doc["steps"]["after"]["status"] == "skipped"
    assert doc["stats"]["tasksFailed"] == 1


def test_a_failed_group_member_is_in_failed_steps(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: settled
        steps:
          - {id: g, parallelGroup: {steps: [x, y], waitStrategy: allSettled}}
          - {id: x, tool: fail, input: {message: nope}}
          - {id: y, tool: echo, input: 2}
        """,
    )
    outcome = plait_cli("run", path, "--json")
    group = outcome.json()["groups"]["g"]
    assert group["failedSteps"] == ["x"]
    assert group["completedSteps"] == ["y"]
    assert group["success"] is True


def test_run_without_json_prints_a_summary(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("run", write("wf.yaml", GROUPED))
    assert outcome.exit_code == 0
    assert "grouped" in outcome.stdout
    assert "succeeded" in outcome.stdout
    assert '"sum"' in outcome.stdout


def test_summary_prints_error_text_that_looks_like_markup(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: "[bold]x[/bold] and [/y]"
        steps:
          - {id: boom, tool: fail, input: {message: "bad [/x] thing"}}
        """,
    )
    outcome = plait_cli("run", path)
    assert outcome.exit_code == 1
    text = " ".join(outcome.stdout.split())
    assert "bad [/x] thing" in text
    assert "[bold]x[/bold] and [/y]" in text


# -- inputs ---------------------------------------------------------------------------

# `steps` comes last so that a test can append a step.
ECHO_N = """
name: echo-n
inputs:
  n: {type: integer}
  label: {type: string, default: none}
outputs:
  n: ${show.output.n}
  label: ${inputs.label}
steps:
  - {id: show, tool: echo, input: {n: "${inputs.n}", text: "n=${inputs.n}"}}
"""


def test_input_is_converted_by_its_declared_type(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("run", write("wf.yaml", ECHO_N), "--json", "--input", "n=5")
    assert outcome.exit_code == 0
    doc = outcome.json()
    assert doc["outputs"] == {"n": 5, "label": "none"}
    assert doc["steps"]["show"]["output"] == {"n": 5, "text": "n=5"}


def test_short_input_option_and_several_inputs(plait_cli: Invoke, write: Write) -> None:
    outcome = plait_cli("run", write("wf.yaml", ECHO_N), "--json", "-i", "n=7", "-i", "label=a=b")
    assert outcome.json()["outputs"] == {"n": 7, "label": "a=b"}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_input_file(plait_cli: Invoke, write: Write, fmt: str) -> None:
    values = {"n": 12, "label": "from file"}
    inputs = write(
        f"inputs.{fmt}", json.dumps(values) if fmt == "json" else "n: 12\nlabel: from file\n"
    )
    outcome = plait_cli("run", write("wf.yaml", ECHO_N), "--json", "--input-file", inputs)
    assert outcome.exit_code == 0
    assert outcome.json()["outputs"] == values


def test_input_option_overrides_the_input_file(plait_cli: Invoke, write: Write) -> None:
    inputs = write("inputs.yaml", "n: 12\n")
    outcome = plait_cli(
        "run", write("wf.yaml", ECHO_N), "--json", "--input-file", inputs, "-i", "n=13"
    )
    assert outcome.json()["outputs"]["n"] == 13


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-i", "n=5", "-i", "m=1"],
            "key 'inputs.m': unknown input 'm' (declared inputs: label, n)",
        ),
        (["-i", "n=five"], "key 'inputs.n': input 'n' must be an integer, not 'five'"),
        ([], "key 'inputs.n': input 'n' is required (give it with --input n=VALUE)"),
        (["-i", "n"], "--input takes NAME=VALUE, not 'n'"),
    ],
    ids=["unknown", "wrong type", "missing", "no equals sign"],
)
def test_bad_input_exits_2_and_runs_nothing(
    plait_cli: Invoke, write: Write, marker: Marker, args: list[str], message: str
) -> None:
    path = write("wf.yaml", ECHO_N + marker.step)
    outcome = plait_cli("run", path, "--json", *args)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.stderr
    assert any(message in p for p in outcome.problems()), outcome.stderr
    assert not marker.ran


def test_input_file_with_a_value_of_the_wrong_type(plait_cli: Invoke, write: Write) -> None:
    # In a file, "5" is text: it is not converted as --input n=5 would be.
    inputs = write("inputs.yaml", "n: '5'\n")
    outcome = plait_cli("run", write("wf.yaml", ECHO_N), "--input-file", inputs)
    assert outcome.exit_code == 2
    assert any("input 'n' must be an integer, not '5'" in p for p in outcome.problems())


def test_missing_input_file(plait_cli: Invoke, write: Write, tmp_path) -> None:
    absent = tmp_path / "absent.yaml"
    outcome = plait_cli("run", write("wf.yaml", ECHO_N), "--input-file", absent)
    assert outcome.exit_code == 2
    assert outcome.problems() == [f"{absent}: no such file"]


def test_input_file_that_is_not_a_mapping(plait_cli: Invoke, write: Write) -> None:
    inputs = write("inputs.yaml", "- 1\n- 2\n")
    outcome = plait_cli("run", write("wf.yaml", ECHO_N), "--input-file", inputs)
    assert outcome.exit_code == 2
    assert outcome.problems() == [
        f"{inputs}: an input file holds a mapping of input names to values"
    ]


# -- an invalid file runs nothing -----------------------------------------------------


def test_valid_file_runs_the_marker_step(plait_cli: Invoke, write: Write, marker: Marker) -> None:
    # The control for the tests below: the marker step does create its file when run.
    outcome = plait_cli("run", write("wf.yaml", "name: w\nsteps:\n" + marker.step), "--json")
    assert outcome.exit_code == 0
    assert outcome.json()["steps"]["side_effect"]["output"] == "ran"
    assert marker.ran


INVALID_WITH_MARKER = "name: w\nsteps:\n{marker}  - {{id: a, tool: teleport, dependsOn: [ghost]}}\n"


def test_run_of_an_invalid_file_exits_2_and_runs_nothing(
    plait_cli: Invoke, write: Write, marker: Marker
) -> None:
    path = write("wf.yaml", INVALID_WITH_MARKER.format(marker=marker.step))
    outcome = plait_cli("run", path, "--json")
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.stderr
    assert "2 problems found; nothing was run." in outcome.stderr
    assert not marker.ran


def test_run_reports_the_same_problems_as_validate(
    plait_cli: Invoke, write: Write, marker: Marker
) -> None:
    path = write("wf.yaml", INVALID_WITH_MARKER.format(marker=marker.step))
    ran = plait_cli("run", path)
    validated = plait_cli("validate", path)
    assert ran.exit_code == validated.exit_code == 2
    assert ran.problems() == validated.problems()
    assert len(ran.problems()) == 2
    assert not marker.ran


def test_run_of_a_file_with_a_cycle_runs_nothing(
    plait_cli: Invoke, write: Write, marker: Marker
) -> None:
    text = (
        "name: w\nsteps:\n"
        + marker.step
        + "  - {id: x, tool: noop, dependsOn: [y]}\n  - {id: y, tool: noop, dependsOn: [x]}\n"
    )
    outcome = plait_cli("run", write("wf.yaml", text))
    assert outcome.exit_code == 2
    assert any("dependency cycle: x -> y -> x" in p for p in outcome.problems())
    assert not marker.ran


def test_run_of_a_missing_file(plait_cli: Invoke, tmp_path) -> None:
    outcome = plait_cli("run", tmp_path / "absent.yaml", "--json")
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.problems() == [f"{tmp_path / 'absent.yaml'}: no such file"]


def test_a_reference_waits_for_its_step_end_to_end(plait_cli: Invoke, write: Write) -> None:
    path = write(
        "wf.yaml",
        """
        name: implicit
        steps:
          - {id: step-a, tool: sleep, input: {duration: 10ms, output: {result: 41}}}
          - {id: b, tool: echo, input: "${step-a.output.result}"}
        """,
    )
    doc = plait_cli("run", path, "--json").json()
    assert doc["steps"]["b"]["output"] == 41
    a_end = datetime.fromisoformat(doc["steps"]["step-a"]["finished_at"])
    b_start = datetime.fromisoformat(doc["steps"]["b"]["started_at"])
    assert b_start >= a_end
