"""The load generator's own counts: a bench that cannot see errors and 429s proves nothing
(until this test, both counters were Lua locals that wrk's done() could not read, and every
scenario reported 0 errors whatever happened)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import wrk

ANSWERS = {
    "/ok": (200, b'{"data": {"ok": true}}'),
    "/error": (200, b'{"errors": [{"message": "no"}], "data": null}'),
    "/throttled": (429, b'{"errors": [{"message": "throttled"}]}'),
    "/gone": (404, b'{"title": "not found"}'),
    "/payload": (200, b'{"data": {"createOrder": {"order": {"id": "1"}, "errors": []}}}'),
}


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, body = ANSWERS[self.path]
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """wrk resets its connections when its time is up: not an error of the test."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    wrk.ensure_installed()
    httpd = Server(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize(("path", "failed", "throttled"), [
    ("/ok", False, False), ("/error", True, False), ("/throttled", True, True),
    ("/gone", True, False), ("/payload", False, False),
])
def test_wrk_counts_every_failure_and_every_429(
    server: str, tmp_path: Path, path: str, failed: bool, throttled: bool
) -> None:
    request = wrk.Request("POST", path, {"content-type": "application/json"}, "{}")
    result = wrk.run(server, [request], tmp_path / "load.lua", seconds=1, connections=2)

    assert result["requests"] > 10
    assert result["failed"] == (result["requests"] if failed else 0)
    assert result["throttled"] == (result["requests"] if throttled else 0)
