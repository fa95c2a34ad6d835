"""The ``http`` tool against a real server on 127.0.0.1 (tests/fixtures/http_server.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

import plait
from fixtures.http_server import LocalServer
from plait.status import StepStatus
from plait.tools.builtin import http as http_tool
from plait.tools.builtin.http import CLIENT_KEY
from plait.tools.context import StepContext


async def _run(*steps: dict[str, Any]) -> plait.RunResult:
    return await plait.Workflow.from_dict({"name": "http", "steps": list(steps)}).run()


def _http(id: str, **input: Any) -> dict[str, Any]:
    return {"id": id, "tool": "http", "input": input}


def _error(result: plait.RunResult, step: str) -> dict[str, Any]:
    error = result.steps[step].error
    assert error is not None, f"step {step} did not fail: {result.steps[step]}"
    return error


def _waits_for(event_of: Callable[[], Any]) -> Callable[[], Any]:
    """A step that ends when the server sees the client hang up (or gives False after a
    generous bound, so that a broken abort fails the test instead of hanging it)."""

    async def watch() -> bool:
        return bool(await asyncio.to_thread(event_of().wait, 10))

    return watch


# -- requests and responses ---------------------------------------------------------------


async def test_get_json_with_headers_and_params(server: LocalServer) -> None:
    result = await _run(
        _http(
            "get",
            url=f"{server.url}/echo",
            headers={"x-token": "abc", "x-n": 7},
            params={"q": "plait", "tag": ["a", "b"]},
        )
    )
    output = result.steps["get"].output
    assert output["status"] == 200
    assert output["headers"]["content-type"] == "application/json"
    assert "text" not in output
    echoed = output["json"]
    assert echoed["method"] == "GET"
    assert echoed["query"] == {"q": ["plait"], "tag": ["a", "b"]}
    assert echoed["headers"]["x-token"] == "abc"
    assert echoed["headers"]["x-n"] == "7"
    assert echoed["headers"]["user-agent"].startswith("plait/")


async def test_a_text_response_gives_text(server: LocalServer) -> None:
    result = await _run(_http("t", url=f"{server.url}/text"))
    output = result.steps["t"].output
    assert output["status"] == 200
    assert output["text"] == "hello, text"
    assert "json" not in output


async def test_post_json_and_put_body(server: LocalServer) -> None:
    result = await _run(
        _http("post", method="post", url=f"{server.url}/echo", json={"a": [1, 2], "b": None}),
        _http(
            "put",
            method="PUT",
            url=f"{server.url}/echo",
            body="raw ünïcode",
            headers={"content-type": "text/plain; charset=utf-8"},
        ),
    )
    post = result.steps["post"].output["json"]
    assert post["method"] == "POST"
    assert post["headers"]["content-type"] == "application/json"
    assert post["body"].replace(" ", "") == '{"a":[1,2],"b":null}'
    put = result.steps["put"].output["json"]
    assert (put["method"], put["body"]) == ("PUT", "raw ünïcode")


async def test_a_body_that_is_not_the_json_it_claims_is_given_as_text(
    server: LocalServer,
) -> None:
    result = await _run(_http("b", url=f"{server.url}/bad-json"))
    assert result.steps["b"].output["text"] == "<html>not json</html>"


async def test_the_seed_name_http_request_is_the_same_tool(server: LocalServer) -> None:
    result = await _run({"id": "a", "tool": "http_request", "input": {"url": f"{server.url}/text"}})
    assert result.steps["a"].output["text"] == "hello, text"


# -- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(404, "HttpClientError"), (429, "HttpTooManyRequests"), (500, "HttpServerError")],
)
async def test_an_error_status_fails_the_step_with_status_method_url_and_body(
    server: LocalServer, status: int, kind: str
) -> None:
    url = f"{server.url}/status/{status}"
    result = await _run(_http("s", url=url))
    assert result.status == "failed"
    error = _error(result, "s")
    assert error["type"] == kind
    assert f"GET {url} answered {status}" in error["message"]
    assert error["message"].endswith(f"line one the server says {status}")
    # the status and the body's end are data too, for an onError handler to read
    assert error["status"] == status
    assert error["details"]["body"].endswith(f"line one the server says {status}")
    assert error["details"].get("retry_after") == ("7" if status == 429 else None)


async def test_a_password_in_the_url_never_reaches_the_error(server: LocalServer) -> None:
    result = await _run(_http("s", url=f"http://ada:hunter2@127.0.0.1:{server.port}/status/401"))
    message = _error(result, "s")["message"]
    assert "hunter2" not in message
    assert "ada:***@127.0.0.1" in message


async def test_a_refused_connection_is_HttpConnectError() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await _run(_http("c", url=f"http://127.0.0.1:{port}/"))
    assert _error(result, "c")["type"] == "HttpConnectError"


async def test_a_redirect_loop_is_HttpError(server: LocalServer) -> None:
    result = await _run(_http("circle", url=f"{server.url}/loop"))
    error = _error(result, "circle")
    assert error["type"] == "HttpError"
    assert "redirect" in error["message"].lower()


async def test_a_body_over_the_limit_is_HttpError(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_tool, "BODY_LIMIT", 5)
    result = await _run(_http("big", url=f"{server.url}/text"))  # 11 bytes
    error = _error(result, "big")
    assert error["type"] == "HttpError"
    assert "over 5 bytes" in error["message"]


@pytest.mark.parametrize(
    ("input", "says"),
    [
        ({"url": "ftp://example.com/x"}, "http:// or https://"),
        ({"url": "http://127.0.0.1/", "json": {}, "body": "x"}, "not both"),
        ({"url": "http://127.0.0.1/", "body": {"a": 1}}, "use 'json'"),
        ({"method": "GET"}, "'url' is required"),
    ],
)
async def test_bad_input_is_an_InputError_naming_the_key(input: Any, says: str) -> None:
    result = await _run({"id": "bad", "tool": "http", "input": input})
    error = _error(result, "bad")
    assert error["type"] == "InputError"
    assert says in error["message"]


@pytest.mark.parametrize(
    ("input", "says"),
    [
        (
            {"url": "http://127.0.0.1/", "header": {"a": "b"}},
            "no input 'header'; did you mean 'headers'?",
        ),
        ({"url": "http://127.0.0.1/", "followRedirects": "yes"}, "is true or false, not 'yes'"),
        ({"url": "http://127.0.0.1/", "timeout": "soon"}, "'timeout' is a duration"),
    ],
)
def test_bad_input_written_in_the_workflow_is_refused_at_validation(input: Any, says: str) -> None:
    wf = plait.Workflow.from_dict(
        {"name": "h", "steps": [{"id": "bad", "tool": "http", "input": input}]}
    )
    with pytest.raises(plait.ValidationError) as raised:
        wf.validate()
    [problem] = raised.value.problems
    assert problem.step == "bad"
    assert says in problem.message


# -- retries -----------------------------------------------------------------------------


async def test_503_twice_then_success_with_retry_on_server_errors(server: LocalServer) -> None:
    retry = {"maxAttempts": 3, "backoff": {"initial": 1}, "retryOn": ["HttpServerError"]}
    result = await _run({**_http("f", url=f"{server.url}/flaky/a?fail=2"), "retry": retry})
    step = result.steps["f"]
    assert step.status == StepStatus.SUCCEEDED
    assert step.attempts == 3
    assert step.output["json"] == {"calls": 3}
    assert [e["type"] for e in step.attempt_errors] == ["HttpServerError"] * 2


async def test_429_is_retried_by_its_own_type(server: LocalServer) -> None:
    retry = {"maxAttempts": 2, "backoff": {"initial": 1}, "retryOn": ["HttpTooManyRequests"]}
    url = f"{server.url}/flaky/b?fail=1&status=429"
    result = await _run({**_http("f", url=url), "retry": retry})
    assert result.steps["f"].status == StepStatus.SUCCEEDED
    assert server.calls("b") == 2


async def test_a_client_error_is_not_retried_when_retry_on_names_server_errors(
    server: LocalServer,
) -> None:
    retry = {"maxAttempts": 3, "backoff": {"initial": 1}, "retryOn": ["HttpServerError"]}
    url = f"{server.url}/flaky/c?fail=5&status=404"
    result = await _run({**_http("f", url=url), "retry": retry})
    assert result.steps["f"].attempts == 1
    assert server.calls("c") == 1


# -- redirects ---------------------------------------------------------------------------


async def test_redirects_are_followed_unless_turned_off(server: LocalServer) -> None:
    result = await _run(
        _http("on", url=f"{server.url}/redirect"),
        _http("off", url=f"{server.url}/redirect", followRedirects=False),
        _http("off_snake", url=f"{server.url}/redirect", follow_redirects=False),
    )
    followed = result.steps["on"].output
    assert followed["status"] == 200
    assert followed["json"]["query"] == {"redirected": ["1"]}
    for step in ("off", "off_snake"):
        output = result.steps[step].output
        assert output["status"] == 302
        assert output["headers"]["location"] == "/echo?redirected=1"


# -- timeouts and cancellation abort the request -------------------------------------------


async def test_a_step_timeout_aborts_the_request(server: LocalServer) -> None:
    result = await _run(
        {**_http("slow", url=f"{server.url}/gate/t"), "timeout": "200ms"},
        {"id": "watch", "tool": _waits_for(lambda: server.hung_up("t"))},
    )
    assert result.steps["slow"].status == StepStatus.TIMED_OUT
    # The client hung up while the run was still going, so the abort was the step's own,
    # not the closing of the client at the run's end.
    assert result.steps["watch"].output is True
    assert not server.gate("t").is_set()


async def test_the_tool_timeout_fails_with_HttpTimeout_and_aborts(server: LocalServer) -> None:
    result = await _run(
        _http("slow", url=f"{server.url}/gate/u", timeout="150ms"),
        {"id": "watch", "tool": _waits_for(lambda: server.hung_up("u"))},
    )
    error = _error(result, "slow")
    assert error["type"] == "HttpTimeout"
    assert f"GET {server.url}/gate/u" in error["message"]
    assert result.steps["watch"].output is True


async def test_a_member_cancelled_by_an_any_group_aborts_its_request(
    server: LocalServer,
) -> None:
    result = await _run(
        {"id": "first", "parallelGroup": {"steps": ["slow", "fast"], "waitStrategy": "any"}},
        _http("slow", url=f"{server.url}/gate/s"),
        {**_http("fast", url=f"{server.url}/text"), "dependsOn": []},
        {"id": "watch", "tool": _waits_for(lambda: server.hung_up("s"))},
    )
    assert result.status == "succeeded"
    assert result.groups["first"].winner == "fast"
    assert result.steps["slow"].status == StepStatus.CANCELLED
    assert result.steps["watch"].output is True


# -- one pool per run ----------------------------------------------------------------------


async def test_the_steps_of_a_run_share_one_client_and_its_connections(
    server: LocalServer,
) -> None:
    clients: list[int] = []

    def client_of(ctx: StepContext) -> None:
        clients.append(id(ctx.resources[CLIENT_KEY]))

    steps: list[dict[str, Any]] = []
    for i in range(5):
        step = _http(f"c{i}", url=f"{server.url}/count")
        if i:
            step["dependsOn"] = [f"c{i - 1}"]
        steps.append(step)
        steps.append({"id": f"seen{i}", "tool": client_of, "dependsOn": [f"c{i}"]})
    result = await _run(*steps)
    assert result.steps["c4"].output["json"] == {"n": 5}
    assert len(set(clients)) == 1
    assert server.connections == 1  # five requests, one kept-alive connection
    assert server.wait_all_closed()  # the run closed its client when it ended

    await _run(_http("again", url=f"{server.url}/count"))
    assert server.connections == 2  # a new run, a new client
