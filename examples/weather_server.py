"""Three pretend weather providers on 127.0.0.1, for examples/weather_any.yaml.

    python examples/weather_server.py          # serves on port 8765 until Ctrl-C

    /provider1/current   is down: 503
    /provider2/data      is slow: answers after SLOW_SECONDS (the run will not wait)
    /provider3/weather   answers at once

Every provider that answers gives the same shape:
{"provider": ..., "city": ..., "temperature_c": ..., "conditions": ...}.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 10.0


class _Providers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release: threading.Event  # set when the server stops, so no slow answer is left waiting
    slow_seconds: float

    def do_GET(self) -> None:
        if self.path == "/provider1/current":
            self._send(503, {"error": "provider1 is down for maintenance"})
        elif self.path == "/provider2/data":
            self.release.wait(self.slow_seconds)
            self._send(200, _report("provider2", 21.0, "cloudy"))
        elif self.path == "/provider3/weather":
            self._send(200, _report("provider3", 21.5, "sunny"))
        else:
            self._send(404, {"error": f"no such path {self.path}"})

    def _send(self, status: int, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting, as it may

    def log_message(self, format: str, *args: Any) -> None:
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


def _report(provider: str, temperature: float, conditions: str) -> dict[str, Any]:
    return {
        "provider": provider,
        "city": "Lyon",
        "temperature_c": temperature,
        "conditions": conditions,
    }


@contextmanager
def serving(
    port: int = 0, *, slow_seconds: float = SLOW_SECONDS, quiet: bool = True
) -> Iterator[str]:
    """Serve in a thread; yields the base URL. ``port=0`` picks a free port."""
    release = threading.Event()
    handler = type("Providers", (_Providers,), {"release": release, "slow_seconds": slow_seconds})
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    httpd.quiet = quiet  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    with serving(port, quiet=False) as url:
        print(f"weather providers on {url} (Ctrl-C stops)", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
