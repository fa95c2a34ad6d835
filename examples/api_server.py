"""Pretend HTTP APIs on 127.0.0.1, for the seed 001 examples that call `http`.

    python examples/api_server.py          # serves on port 8766 until Ctrl-C

    GET  /data                  data_aggregation.yaml: a few records {id, value}
    GET  /a/data, /b/data       complex_data_pipeline.yaml: sensor readings of source a
                                (celsius) and b (fahrenheit); ?delay_ms=N answers N ms late
    POST /process?batch=B       rate_limited_batch.yaml: process one item {id, payload}.
                                It takes ?delay_ms (default 5) and allows MAX_IN_FLIGHT
                                requests at once: one more is answered 429. An item whose
                                payload is null is refused with 422.
    GET  /stats?batch=B         what /process saw for batch B: {requests, processed,
                                refused, rejected, max_in_flight}

Every answer is JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_IN_FLIGHT = 10

RECORDS = [{"id": 1, "value": 10}, {"id": 2, "value": 25}, {"id": 3, "value": 7}]
SOURCES: dict[str, dict[str, Any]] = {
    "a": {
        "source": "a",
        "unit": "celsius",
        "readings": [
            {"sensor": 1, "value": 20.5},
            {"sensor": 2, "value": 22.0},
            {"sensor": 3, "value": None},  # a broken sensor: validation rejects it
        ],
    },
    "b": {
        "source": "b",
        "unit": "fahrenheit",
        "readings": [{"sensor": 1, "value": 68.0}, {"sensor": 2, "value": 77.0}],
    },
}


class _Batches:
    """Per-batch counts of /process, under one lock (requests come in many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, dict[str, int]] = {}
        self._in_flight: dict[str, int] = {}

    def _of(self, batch: str) -> dict[str, int]:
        return self._stats.setdefault(
            batch, {"requests": 0, "processed": 0, "refused": 0, "rejected": 0, "max_in_flight": 0}
        )

    def enter(self, batch: str) -> bool:
        """Count a request in; False when it is one too many (answer 429)."""
        with self._lock:
            stats = self._of(batch)
            stats["requests"] += 1
            if self._in_flight.get(batch, 0) >= MAX_IN_FLIGHT:
                stats["rejected"] += 1
                return False
            self._in_flight[batch] = self._in_flight.get(batch, 0) + 1
            stats["max_in_flight"] = max(stats["max_in_flight"], self._in_flight[batch])
            return True

    def leave(self, batch: str, outcome: str) -> None:
        # Counted out before the answer is sent: the client's next request can only
        # come after this one is no longer in flight.
        with self._lock:
            self._in_flight[batch] -= 1
            self._of(batch)[outcome] += 1

    def stats(self, batch: str) -> dict[str, int]:
        with self._lock:
            return dict(self._of(batch))


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body of an answer go out in two writes: without this, Nagle's
    # algorithm holds the body back until the client acknowledges the head (~40 ms).
    disable_nagle_algorithm = True
    batches: _Batches

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/data":
            self._send(200, {"source": "api", "records": RECORDS})
        elif url.path in ("/a/data", "/b/data"):
            time.sleep(_number(query, "delay_ms", 0) / 1000)
            self._send(200, SOURCES[url.path[1]])
        elif url.path == "/stats":
            self._send(200, self.batches.stats(_text(query, "batch")))
        else:
            self._send(404, {"error": f"no such path {url.path}"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("content-length") or 0)
        item = json.loads(self.rfile.read(length) or b"null")
        if url.path != "/process" or not isinstance(item, dict):
            self._send(404, {"error": f"no such path {url.path}, or no item"})
            return
        batch = _text(query, "batch")
        if not self.batches.enter(batch):
            self._send(429, {"error": f"more than {MAX_IN_FLIGHT} requests at once"})
            return
        time.sleep(_number(query, "delay_ms", 5) / 1000)
        if item.get("payload") is None:
            self.batches.leave(batch, "refused")
            self._send(422, {"error": f"item {item.get('id')} has no payload"})
        else:
            self.batches.leave(batch, "processed")
            self._send(200, {"id": item.get("id"), "processed": str(item["payload"]).upper()})

    def _send(self, status: int, data: Any) -> None:
        body = json.dumps(data).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the connections of a burst of more than
    # 5 requests, and the client tries again only a second later.
    request_queue_size = 128


def _text(query: dict[str, list[str]], key: str) -> str:
    return query.get(key, [""])[0]


def _number(query: dict[str, list[str]], key: str, default: float) -> float:
    return float(query[key][0]) if key in query else default


@contextmanager
def serving(port: int = 0, *, quiet: bool = True) -> Iterator[str]:
    """Serve in a thread; yields the base URL. ``port=0`` picks a free port."""
    handler = type("Api", (_Api,), {"batches": _Batches()})
    httpd = _Server(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    httpd.quiet = quiet  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8766
    with serving(port, quiet=False) as url:
        print(f"example APIs on {url} (Ctrl-C stops)", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
