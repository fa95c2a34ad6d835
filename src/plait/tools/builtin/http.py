"""The ``http`` tool (also named ``http_request``, seed 001's name): one HTTP request.

Every step of a run shares one ``httpx.AsyncClient``, kept in the run's resources and
closed when the run ends, so requests to one host reuse kept-alive connections. The
client sets no connection limit of its own: how many requests run at once is for the
run's pools (``maxConcurrent``) to say, and a second, hidden limit would only queue
steps that their pool has already let run.

A status of 400 or more fails the step; the error's ``status`` is the response's, its
``details`` hold the end of the body (``body``) and any ``Retry-After`` header
(``retry_after``). The error types, which ``retryOn`` matches::

    HttpTooManyRequests   status 429
    HttpServerError       status 500 to 599
    HttpClientError       any other status from 400 to 499
    HttpTimeout           the request's own ``timeout`` ran out (connecting, reading, writing)
    HttpConnectError      no connection could be made (refused, unknown host)
    HttpError             any other failure: a broken connection, too many redirects,
                          a response body over ``BODY_LIMIT``
    InputError            the input is wrong

A step that is cancelled or times out aborts its request: the connection is closed,
not handed back to the pool.

The run's secrets (``ctx.secrets``) are masked out of the body's tail before it is cut,
and an error about a URL or request that holds one leaves out the quoted parts of the
reason httpx gave: ``Invalid port: 'xyz'`` may quote a piece of a secret, which no mask
recognises once cut from it.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
from typing import Any

import httpx

from plait._version import __version__
from plait.errors import StepError
from plait.secrets import Secrets
from plait.tools.builtin._args import check_keys, duration, either, mapping, text
from plait.tools.context import StepContext
from plait.tools.registry import Tool

CLIENT_KEY = "plait.http.client"  # the run's AsyncClient in StepContext.resources
DEFAULT_TIMEOUT = 30.0  # seconds, for each of connect, read and write
BODY_LIMIT = 10 * 1024 * 1024  # bytes of a response body kept in a step's output
ERROR_TAIL = 500  # characters of an error response's body quoted in the step's error
KEYS = frozenset(
    {
        "method",
        "url",
        "headers",
        "params",
        "json",
        "body",
        "timeout",
        "followRedirects",
        "follow_redirects",
    }
)


async def http(value: Any, ctx: StepContext) -> dict[str, Any]:
    args = mapping(value, "http")
    check_keys(args, KEYS, "http")
    follow = either(args, "followRedirects", "follow_redirects", "http", True)
    if not isinstance(follow, bool):
        raise StepError("http: 'followRedirects' is true or false", type="InputError")
    secrets = ctx.secrets
    request_args = _request_args(args, secrets)
    client = await run_client(ctx)
    try:
        request = client.build_request(**request_args)
    except (TypeError, ValueError) as exc:  # a value httpx cannot encode
        reason = _reason(exc, secrets.value(args) != args)
        raise StepError(f"http: cannot build the request: {reason}", type="InputError") from None
    traceparent = ctx.traceparent  # a traced run: this attempt's span (W3C trace context)
    if traceparent is not None and "traceparent" not in request.headers:
        request.headers["traceparent"] = traceparent
    where = f"{request.method} {_redacted(request.url)}"
    response, body, cut = await _exchange(client, request, follow, where)
    if response.status_code >= 400:
        raise _status_error(where, response, body, secrets)
    if cut:
        raise StepError(
            f"http: {where}: the response body is over {BODY_LIMIT} bytes, more than a "
            "step's output should hold",
            type="HttpError",
        )
    return _output(response, body)


async def _exchange(
    client: httpx.AsyncClient, request: httpx.Request, follow: bool, where: str
) -> tuple[httpx.Response, bytes, bool]:
    """Send, read the body (up to ``BODY_LIMIT``), and turn httpx's errors into ours."""
    try:
        response = await client.send(request, stream=True, follow_redirects=follow)
        try:
            body, cut = await _read(response)
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        raise StepError(
            f"http: {where}: no answer in time ({type(exc).__name__})", type="HttpTimeout"
        ) from None
    except httpx.ConnectError as exc:
        raise StepError(f"http: {where}: cannot connect: {exc}", type="HttpConnectError") from None
    except httpx.HTTPError as exc:
        raise StepError(
            f"http: {where}: {str(exc) or type(exc).__name__}", type="HttpError"
        ) from None
    return response, body, cut


async def run_client(ctx: StepContext) -> httpx.AsyncClient:
    """The run's shared client, made by the first request of the run."""
    tls = _tls or await _load_tls(ctx)
    client: httpx.AsyncClient | None = ctx.resources.get(CLIENT_KEY)
    if client is None:  # no await from the lookup to the store: one client per run
        client = httpx.AsyncClient(
            verify=tls,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            timeout=DEFAULT_TIMEOUT,
            headers={"user-agent": f"plait/{__version__}"},
        )
        ctx.resources[CLIENT_KEY] = client
    return client


# Loading the CA certificates takes tens of milliseconds: done once per process, in a
# worker thread, and shared by every run's client (an SSLContext is safe to share).
_tls: ssl.SSLContext | None = None


async def _load_tls(ctx: StepContext) -> ssl.SSLContext:
    global _tls
    made = await ctx.run_in_thread(httpx.create_ssl_context)
    if _tls is None:
        _tls = made
    return _tls


def _request_args(args: dict[str, Any], secrets: Secrets) -> dict[str, Any]:
    method = text(args, "method", "http") or "GET"
    url = _url(text(args, "url", "http", required=True) or "", secrets)
    out: dict[str, Any] = {
        "method": method.upper(),
        "url": url,
        "headers": _headers(args.get("headers")),
        "params": _params(args.get("params")),
        "timeout": _timeout(args),
    }
    if "json" in args and "body" in args:
        raise StepError("http: give 'json' or 'body', not both", type="InputError")
    if "json" in args:
        out["json"] = args["json"]
    elif args.get("body") is not None:
        body = args["body"]
        if not isinstance(body, str):
            raise StepError(
                "http: 'body' must be a string; to send a mapping or a list as JSON, use 'json'",
                type="InputError",
            )
        out["content"] = body.encode()
    return out


def _url(value: str, secrets: Secrets) -> httpx.URL:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        reason = _reason(exc, secrets.text(value) != value)
        raise StepError(f"http: bad 'url' {value!r}: {reason}", type="InputError") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise StepError(
            f"http: 'url' must be an http:// or https:// address, not {value!r}",
            type="InputError",
        )
    return url


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise StepError(
            "http: 'headers' must be a mapping of names to strings or numbers", type="InputError"
        )
    return {str(k): str(v) for k, v in value.items()}


def _params(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise StepError(
        "http: 'params' must be a mapping of names to values (or lists of values)",
        type="InputError",
    )


def _timeout(args: dict[str, Any]) -> float | None:
    if "timeout" not in args:
        return DEFAULT_TIMEOUT
    if args["timeout"] is None:
        return None
    return duration(args, "timeout", "http")


async def _read(response: httpx.Response) -> tuple[bytes, bool]:
    """The body up to ``BODY_LIMIT`` bytes, and whether there was more (not read)."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > BODY_LIMIT:
            return bytes(data[:BODY_LIMIT]), True
    return bytes(data), False


def _output(response: httpx.Response, body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"status": response.status_code, "headers": dict(response.headers)}
    # A body the server called JSON but that is not: the step gets it as text.
    if _is_json(response):
        with contextlib.suppress(ValueError):
            out["json"] = json.loads(body) if body.strip() else None
            return out
    out["text"] = _decode(response, body)
    return out


def _is_json(response: httpx.Response) -> bool:
    kind = str(response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _decode(response: httpx.Response, body: bytes) -> str:
    try:
        return body.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _reason(exc: Exception, holds_secret: bool) -> str:
    """httpx's reason for refusing a URL or request; when it holds a secret, without
    what the reason quotes (a piece of the URL, one character) and where."""
    reason = str(exc)
    if holds_secret:
        reason = _QUOTED.sub("'…'", reason)
        reason = _POSITION.sub("", reason) + " (quoted parts left out: it holds a secret)"
    return reason


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_POSITION = re.compile(r",? (?:at|in) position \d+(?:-\d+)?")


def _status_error(where: str, response: httpx.Response, body: bytes, secrets: Secrets) -> StepError:
    status = response.status_code
    if status == 429:
        kind = "HttpTooManyRequests"
    elif status >= 500:
        kind = "HttpServerError"
    else:
        kind = "HttpClientError"
    message = f"http: {where} answered {status} {response.reason_phrase}".rstrip()
    # Masked before the cut (and before whitespace is folded, which could change a
    # secret holding some), and once more after the folding, which could make one.
    folded = re.sub(r"\s+", " ", secrets.text(_decode(response, body))).strip()
    tail = secrets.tail(folded, ERROR_TAIL)
    details = {"body": tail}
    if "retry-after" in response.headers:  # a 429's or 503's advice: when to come back
        details["retry_after"] = response.headers["retry-after"]
    return StepError(
        f"{message}: {tail}" if tail else message, type=kind, status=status, details=details
    )


def _redacted(url: httpx.URL) -> str:
    """Never write a password into an error."""
    if url.password:
        url = url.copy_with(userinfo=url.userinfo.split(b":", 1)[0] + b":***")
    return str(url)


HTTP = Tool(
    "http",
    http,
    is_async=True,
    style="input",
    wants_ctx=True,
    description="send one HTTP request: `method`, `url`, `headers`, `params`, `json` or `body`",
    inputs={
        "method": "string",
        "url": "string",
        "headers": "mapping",
        "params": "mapping",
        "json": "any",
        "body": "any",
        "timeout": "duration",
        "followRedirects": "boolean",
        "follow_redirects": "boolean",
    },
)
