"""``${env.NAME}``: only declared or allowed variables are read, and their values are
masked in the store, the events, the run document, the terminal and plait's logs."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fixtures.http_server import LocalServer
from plait import Workflow
from plait.cli.app import app
from plait.errors import InputError
from plait.status import RunStatus

TOKEN = "s3cr3t-token-value-42"


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _http_workflow(url: str) -> dict[str, Any]:
    return {
        "name": "secret-http",
        "env": ["API_TOKEN"],
        "steps": [
            {
                "id": "call",
                "tool": "http",
                "input": {
                    "url": url + "/echo?key=${env.API_TOKEN}",
                    "headers": {"Authorization": "Bearer ${env.API_TOKEN}"},
                },
            },
            {
                "id": "denied",
                "tool": "http",
                "dependsOn": ["call"],
                "continueOnError": True,
                "input": {"url": url + "/status/403?key=${env.API_TOKEN}"},
            },
        ],
    }


def test_a_declared_variable_is_sent_for_real_and_masked_everywhere_it_is_written(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "runs.db"
    path = _write(tmp_path, _http_workflow(server.url))
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(path), "--json", "--store", str(db)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # The server really got the token, in the header and the query...
    echoed = doc["steps"]["call"]["output"]["json"]
    assert echoed["headers"]["authorization"] == "Bearer ***"  # ...but the document masks it
    assert doc["steps"]["denied"]["status"] == "failed"
    assert "***" in doc["steps"]["denied"]["error"]["message"]
    assert TOKEN not in result.stdout
    # The store: step rows (input, output, error) and events.
    with sqlite3.connect(db) as conn:
        dumped = "\n".join(
            " ".join(str(v) for v in row)
            for table in ("runs", "step_executions", "events")
            for row in conn.execute(f"SELECT * FROM {table}")
        )
    assert "Bearer ***" in dumped
    assert TOKEN not in dumped
    # plait runs show reads the store: masked too.
    shown = runner.invoke(app, ["runs", "show", doc["run_id"], "--json", "--store", str(db)])
    assert shown.exit_code == 0
    assert TOKEN not in shown.stdout
    # The terminal table (no --json) masks the error message.
    table = runner.invoke(app, ["run", str(path), "--store", str(db)])
    assert table.exit_code == 0
    assert TOKEN not in table.output


def test_the_server_saw_the_real_value(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    wf = Workflow.from_dict(_http_workflow(server.url))
    result = _run(wf)
    # In the Python API the step's own output keeps the real value (it never left the
    # process); the run document is masked.
    sent = result.steps["call"].output["json"]
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["query"]["key"] == [TOKEN]
    assert TOKEN not in json.dumps(result.to_document(), default=str)


def _run(wf: Workflow, **options: Any) -> Any:
    import asyncio

    return asyncio.run(wf.run(**options))


def test_plait_log_records_are_masked_while_the_run_is_going(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    seen: list[str] = []

    def log_it(token: str) -> str:
        logging.getLogger("plait.tools").warning("calling with %s", token)
        seen.append(token)
        return "ok"

    wf = Workflow.from_dict(
        {
            "name": "logs",
            "env": ["API_TOKEN"],
            "steps": [{"id": "s", "tool": log_it, "input": {"token": "${env.API_TOKEN}"}}],
        }
    )
    with caplog.at_level(logging.WARNING, logger="plait.tools"):
        result = _run(wf)
    assert result.status is RunStatus.SUCCEEDED
    assert seen == [TOKEN]  # the tool got the value
    messages = [r.getMessage() for r in caplog.records if r.name == "plait.tools"]
    assert messages == ["calling with ***"]


def test_an_undeclared_variable_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME_REGION", "north-1")
    monkeypatch.chdir(tmp_path)
    doc = {
        "name": "allow",
        "steps": [{"id": "where", "tool": "echo", "input": {"region": "${env.HOME_REGION}"}}],
    }
    path = _write(tmp_path, doc)
    runner = CliRunner()
    refused = runner.invoke(app, ["run", str(path), "--store", "memory://"])
    assert refused.exit_code == 2
    assert "${env.HOME_REGION} is not declared under 'env:'" in refused.output
    assert "--allow-env HOME_REGION" in refused.output
    assert "where" in refused.output  # the step that reads it
    allowed = runner.invoke(
        app, ["run", str(path), "--json", "--store", "memory://", "--allow-env", "HOME_REGION"]
    )
    assert allowed.exit_code == 0, allowed.output
    # An allowed variable is a secret too.
    assert json.loads(allowed.stdout)["steps"]["where"]["output"] == {"region": "***"}


def test_a_required_variable_that_is_unset_stops_the_run_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PLAIT_TEST_MISSING", raising=False)
    wf = Workflow.from_dict(
        {
            "name": "missing",
            "env": ["PLAIT_TEST_MISSING"],
            "steps": [{"id": "s", "tool": "echo", "input": "${env.PLAIT_TEST_MISSING}"}],
        }
    )
    with pytest.raises(InputError, match="PLAIT_TEST_MISSING is not set"):
        wf.create_run()


def test_defaults_optional_variables_and_public_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAIT_TEST_REGION", raising=False)
    monkeypatch.delenv("PLAIT_TEST_OPTIONAL", raising=False)
    monkeypatch.setenv("PLAIT_TEST_PUBLIC", "visible-value")
    wf = Workflow.from_dict(
        {
            "name": "defaults",
            "env": {
                "PLAIT_TEST_REGION": "eu-west-1",
                "PLAIT_TEST_OPTIONAL": {"required": False},
                "PLAIT_TEST_PUBLIC": {"secret": False},
            },
            "steps": [
                {
                    "id": "s",
                    "tool": "echo",
                    "input": {
                        "region": "${env.PLAIT_TEST_REGION}",
                        "optional": "${default(env.PLAIT_TEST_OPTIONAL, 'none')}",
                        "public": "${upper(env.PLAIT_TEST_PUBLIC)}",
                    },
                }
            ],
        }
    )
    result = _run(wf)
    assert result.status is RunStatus.SUCCEEDED, result.error
    expected = {"region": "eu-west-1", "optional": "none", "public": "VISIBLE-VALUE"}
    assert result.steps["s"].output == expected
    # A default from the file is not a secret, nor a value declared `secret: false`.
    assert result.to_document()["steps"]["s"]["output"] == expected


def test_env_is_read_inside_map_bodies_and_nothing_else_of_the_environment_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAIT_TEST_SUFFIX", "-x")
    monkeypatch.setenv("PLAIT_TEST_OTHER", "other")
    wf = Workflow.from_dict(
        {
            "name": "map-env",
            "env": {"PLAIT_TEST_SUFFIX": {"secret": False}},
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "items": [1, 2],
                        "steps": [
                            {
                                "id": "b",
                                "tool": "echo",
                                "input": "${str(parallel.item) + env.PLAIT_TEST_SUFFIX}",
                            }
                        ],
                    },
                }
            ],
        }
    )
    assert _run(wf).steps["m"].output == ["1-x", "2-x"]
    bad = Workflow.from_dict(
        {
            "name": "other",
            "env": ["PLAIT_TEST_SUFFIX"],
            "steps": [{"id": "s", "tool": "echo", "input": "${env.PLAIT_TEST_OTHER}"}],
        }
    )
    with pytest.raises(InputError, match="PLAIT_TEST_OTHER"):
        bad.create_run()


def test_a_short_value_is_not_masked() -> None:
    from plait.secrets import Secrets

    secrets = Secrets(["ab", "long-enough"])
    assert secrets.text("ab long-enough") == "ab ***"
    assert secrets.json_text(json.dumps({"k": 'q"long-enough"'})) == json.dumps({"k": 'q"***"'})


# A step's code that puts the secret everywhere an error can carry it: the message,
# the cause, the details, and the source line its traceback quotes (the comment).
LEAKY = f"""\
import plait


def reject(token):
    try:
        raise KeyError(token)
    except KeyError as exc:
        error = plait.StepError(f"token {{token}} refused", status=401, details={{"token": token}})
        raise error from exc  # was {TOKEN}
"""


def test_a_secret_in_an_errors_message_cause_details_and_traceback_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leaky.py").write_text(LEAKY, encoding="utf-8")
    path = _write(
        tmp_path,
        {
            "name": "leaky",
            "env": ["API_TOKEN"],
            "steps": [
                {
                    "id": "call",
                    "tool": "python",
                    "input": {"function": "leaky:reject", "args": {"token": "${env.API_TOKEN}"}},
                }
            ],
        },
    )
    db = tmp_path / "runs.db"
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(path), "--json", "--store", str(db)])
    assert ran.exit_code == 1
    error = json.loads(ran.stdout)["steps"]["call"]["error"]
    # Every field was there to leak, and reads *** where the secret was.
    assert error["message"] == "token *** refused"
    assert error["cause"] == {"type": "KeyError", "message": "'***'"}
    assert error["details"] == {"token": "***"}
    assert "leaky.py" in error["traceback"]
    assert "# was ***" in error["traceback"]
    assert TOKEN not in ran.stdout
    with sqlite3.connect(db) as conn:
        dumped = "\n".join(
            " ".join(str(v) for v in row)
            for table in ("runs", "step_executions", "events")
            for row in conn.execute(f"SELECT * FROM {table}")
        )
    assert "# was ***" in dumped
    assert TOKEN not in dumped
    run_id = json.loads(ran.stdout)["run_id"]
    for args in (["runs", "show", run_id], ["runs", "show", run_id, "--json"]):
        shown = runner.invoke(app, [*args, "--store", str(db)])
        assert shown.exit_code == 0
        assert TOKEN not in shown.output
    terminal = runner.invoke(app, ["run", str(path), "--store", str(db)])
    assert "# was ***" in terminal.output  # the summary's traceback quotes the line
    assert TOKEN not in terminal.output
