"""A secret is masked in every form plait itself writes it, and before any cut.

One run through a real local HTTP server and the shell tool puts the secret where
plait encodes or cuts it: an ``http`` query parameter (URL-encoded, holding ``+ / =``),
the ``Authorization: Basic`` header httpx builds from a URL's password (base64), a JSON
body (escaped: the secret holds ``"``, ``\\`` and non-ASCII), an error body's tail cut
inside the secret, a URL httpx cannot parse (its reason quotes a piece of the URL), a
stderr tail and a stdout head cut inside the secret, and an exception's repr. No form
of the secret, nor any piece of it, may then appear in the store (the SQLite file's
bytes, PostgreSQL's rows), ``plait run --json``, the terminal summary, ``plait runs
show`` (text and ``--json``), or the log records, httpx's and httpcore's included.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fixtures.http_server import LocalServer
from helpers.leaks import assert_hidden, sqlite_bytes, stored_rows
from plait.cli.app import app
from plait.tools.builtin import http as http_tool
from plait.tools.builtin import shell as shell_tool

# Quotes, a backslash, non-ASCII, and + / = (which URL-encoding changes).
TOKEN = 'Zq7"tok\\en+/=é-' + uuid.uuid4().hex[:10]
# A URL's password: no character that would end the URL's user part.
PASSWORD = "b4sic+Pass=" + uuid.uuid4().hex[:10]
STDOUT_LIMIT = 4096  # the shell tool's cap, made small so the cut is cheap to reach

LEAKY = """\
def reject(token):
    raise KeyError(token)
"""


def _workflow(url: str) -> dict[str, Any]:
    port = url.rsplit(":", 1)[1]
    token = "${env.API_TOKEN}"
    python = sys.executable

    def step(step_id: str, tool: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"id": step_id, "tool": tool, "input": value, "continueOnError": True}

    # The stderr tail (2000 characters) begins inside the secret; so does the error
    # body's tail (500 characters); the stdout head ends inside it.
    stderr = "import os, sys; sys.stderr.write(os.environ['API_TOKEN'] + 'y' * 1995); sys.exit(3)"
    stdout = f"import os; print('x' * {STDOUT_LIMIT - 5} + os.environ['API_TOKEN'])"
    return {
        "name": "secret-forms",
        "env": ["API_TOKEN", "BASIC_PASS"],
        "steps": [
            step("params", "http", {"url": f"{url}/echo", "params": {"key": token}}),
            step("denied", "http", {"url": f"{url}/status/403", "params": {"key": token}}),
            step(
                "basic", "http", {"url": f"http://user:${{env.BASIC_PASS}}@127.0.0.1:{port}/echo"}
            ),
            step("posted", "http", {"method": "POST", "url": f"{url}/echo", "json": {"t": token}}),
            step(
                "tail",
                "http",
                {"method": "POST", "url": f"{url}/reflect?status=400", "body": token + "y" * 495},
            ),
            step("badurl", "http", {"url": f"http://user:{token}@127.0.0.1:{port}/echo"}),
            step("stderr", "shell", {"command": [python, "-c", stderr]}),
            step("stdout", "shell", {"command": [python, "-c", stdout]}),
            step("repr", "python", {"function": "leaky_repr:reject", "args": {"token": token}}),
        ],
    }


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return str(request.getfixturevalue("fresh_postgres_db"))


def test_every_derived_form_is_masked_everywhere(
    tmp_path: Path,
    server: LocalServer,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("BASIC_PASS", PASSWORD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shell_tool, "OUTPUT_LIMIT", STDOUT_LIMIT)
    (tmp_path / "leaky_repr.py").write_text(LEAKY, encoding="utf-8")
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(_workflow(server.url), sort_keys=False), encoding="utf-8")
    runner = CliRunner()
    with caplog.at_level(logging.DEBUG):
        ran = runner.invoke(app, ["run", str(path), "--json", "--store", store_url])
        terminal = runner.invoke(app, ["run", str(path), "--store", store_url])
    assert ran.exit_code == 0, ran.output
    assert terminal.exit_code == 0, terminal.output
    doc = json.loads(ran.stdout)
    steps = doc["steps"]

    # Each step did put the secret where it was meant to (and plait masked it there).
    assert steps["params"]["output"]["json"]["query"] == {"key": ["***"]}
    assert "?key=***" in steps["denied"]["error"]["message"]  # the URL, as httpx encoded it
    authorization = steps["basic"]["output"]["json"]["headers"]["authorization"]
    assert authorization.startswith("Basic ")
    assert "***" in authorization
    assert steps["posted"]["output"]["json"]["body"] == '{"t":"***"}'
    assert steps["tail"]["error"]["details"]["body"] == "***" + "y" * 495
    bad_url = steps["badurl"]["error"]["message"]
    assert bad_url.startswith("http: bad 'url' 'http://user:***@127.0.0.1:")
    assert "Invalid port: '…'" in bad_url
    assert steps["stderr"]["error"]["details"]["stderr"] == "***" + "y" * 1995
    stdout = steps["stdout"]["output"]["stdout"]
    assert stdout.startswith("x" * (STDOUT_LIMIT - 5) + "***")
    assert f"[plait: stdout cut at {STDOUT_LIMIT} of" in stdout
    assert steps["repr"]["error"]["type"] == "KeyError"
    assert steps["repr"]["error"]["message"] == "'***'"  # KeyError's str is the key's repr

    run_id = doc["run_id"]
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", store_url])
    shown_json = runner.invoke(app, ["runs", "show", run_id, "--store", store_url, "--json"])
    assert shown.exit_code == shown_json.exit_code == 0
    logged = [
        "\n".join(filter(None, [r.name, r.getMessage(), r.exc_text or ""])) for r in caplog.records
    ]
    assert any(line.startswith("httpx\n") for line in logged)  # httpx's own records
    assert any(line.startswith("httpcore.") for line in logged)
    written = {
        "plait run --json": ran.output,
        "the terminal summary": terminal.output,
        "plait runs show": shown.output,
        "plait runs show --json": shown_json.output,
        "the log records": "\n".join(logged),
        "the store's rows": stored_rows(store_url, run_id),
    }
    if "://" not in store_url:
        written["the SQLite file"] = sqlite_bytes(Path(store_url)).decode("utf-8", "replace")
    for where, text in written.items():
        assert_hidden(where, text, TOKEN, PASSWORD)


def test_the_error_tail_is_cut_after_masking_not_before(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python API: what the tool raises is masked already (the run's other writers
    could not recognise a cut secret)."""
    import plait

    monkeypatch.setenv("API_TOKEN", TOKEN)
    wf = plait.Workflow.from_dict(
        {
            "name": "tail",
            "env": ["API_TOKEN"],
            "steps": [
                {
                    "id": "tail",
                    "tool": "http",
                    "input": {
                        "method": "POST",
                        "url": f"{server.url}/reflect?status=500",
                        "body": "${env.API_TOKEN}" + "\n" * 10 + "y" * (http_tool.ERROR_TAIL - 4),
                    },
                }
            ],
        }
    )
    result = plait.run_sync(wf)
    error = result.steps["tail"].error
    assert error is not None
    assert error.details == {"body": "*** " + "y" * (http_tool.ERROR_TAIL - 4)}
