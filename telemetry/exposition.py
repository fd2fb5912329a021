"""Serving the metrics: the text exposition, who may read it, and a listener of its own.

`/metrics` is not public by default: it needs METRICS_TOKEN (sent as a bearer token) on the API
port, or METRICS_BIND, a separate address (e.g. one only the scraper's network reaches). The
API processes of `serve --workers N` share PROMETHEUS_MULTIPROC_DIR; a worker or relay is one
process and serves its own registry on its own METRICS_BIND.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import ThreadingWSGIServer

from domain.config import Secret, Settings

log = logging.getLogger("tenantgraph.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HOW_TO_ENABLE = (
    "metrics are not public: set METRICS_TOKEN and send it as 'Authorization: Bearer <token>', "
    "or set METRICS_BIND to serve them on a separate address"
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def render() -> bytes:
    """This process's metrics, or every API process's when they share a multiprocess dir."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def check(authorization: str | None, token: Secret | None, *, on_own_address: bool) -> tuple[int, str] | None:
    """None when the caller may read the metrics; else the status and why not."""
    if token is None:
        return None if on_own_address else (404, HOW_TO_ENABLE)
    scheme, _, offered = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not offered:
        return (401, "send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'")
    if not hmac.compare_digest(offered.strip().encode(), str(token).encode()):
        return (403, "the metrics token is not right")
    return None


def problem_body(status: int, detail: str) -> bytes:
    titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found"}
    return json.dumps({"type": "about:blank", "title": titles.get(status, "Error"), "status": status,
                       "detail": detail}).encode()


def wsgi_app(token: Secret | None) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The metrics on a listener of their own (METRICS_BIND): the token too, when set."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "application/problem+json")])
            return [problem_body(404, "metrics are served at /metrics")]
        refused = check(environ.get("HTTP_AUTHORIZATION"), token, on_own_address=True)
        if refused is not None:
            status, detail = refused
            headers = [("Content-Type", "application/problem+json"), ("WWW-Authenticate", "Bearer")]
            start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", headers)
            return [problem_body(status, detail)]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [render()]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def serve(settings: Settings) -> ThreadingWSGIServer | None:
    """Serve the metrics on METRICS_BIND from a daemon thread; None when it is not set."""
    if settings.metrics_bind is None:
        return None
    host, port = settings.metrics_bind

    class Server(ThreadingWSGIServer):
        address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    try:
        server = make_server(host, port, wsgi_app(settings.metrics_token), Server, handler_class=_Quiet)
    except OSError as error:
        # Metrics must never keep a process from serving: say so and carry on without them.
        log.error("cannot serve metrics on METRICS_BIND %s:%d: %s", host, port, error)
        return None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def fresh_multiprocess_dir(path: str) -> None:
    """Remove a previous deployment's files from the shared dir, so its counters start again
    at zero: only the files of processes no longer running, since another `serve` may be
    using an operator-given dir right now."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        found = PROCESS_FILE.fullmatch(name)
        if found and not _alive(int(found.group(1))):
            os.remove(os.path.join(path, name))


def forget_dead_processes() -> None:
    """Drop the live gauges of API processes that died without saying so (killed; uvicorn
    starts a replacement, which calls this): only their counters stay."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return
    for pid in {int(m.group(1)) for m in map(LIVE_FILE.fullmatch, os.listdir(path)) if m}:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


LIVE_FILE = re.compile(r"gauge_live(?:sum|all|max|min|mostrecent)_([0-9]+)\.db")
PROCESS_FILE = re.compile(r"[a-z_]+_([0-9]+)\.db")
"""prometheus_client's file of one process's values: <type>_<pid>.db."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_exited(pid: int) -> None:
    """Drop a dead API process's live gauges (its counters stay, as Prometheus expects)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
