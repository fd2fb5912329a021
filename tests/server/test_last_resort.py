"""The outermost handler: an exception that escapes an endpoint is still a JSON answer."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.errors import Unavailable
from server.last_resort import LastResort


async def bug(request: Request) -> Response:
    raise KeyError("a bug")


async def refused(request: Request) -> Response:
    # As tables.engine raises it, from asyncio's plain OSError, when PostgreSQL is down.
    raise Unavailable("PostgreSQL failed the call") from ConnectionRefusedError("PostgreSQL is down")


async def file_missing(request: Request) -> Response:
    raise FileNotFoundError(2, "No such file or directory", "/srv/missing.json")


async def own_timeout(request: Request) -> Response:
    async with asyncio.timeout(0):
        await asyncio.sleep(1)
    raise AssertionError("timed out above")


def client() -> httpx.AsyncClient:
    app = Starlette(middleware=[Middleware(LastResort)], routes=[
        Route("/graphql", bug, methods=["POST"]), Route("/webhooks/{flow}", refused, methods=["POST"]),
        Route("/graphql/file", file_missing, methods=["POST"]),
        Route("/webhooks/x/timeout", own_timeout, methods=["POST"]),
    ])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_a_bug_is_a_json_500_with_the_request_id_and_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client() as http:
        response = await http.post("/graphql", headers={"x-request-id": "bug-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "bug-1"
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "bug-1"}
    assert "a bug" not in response.text
    logged = [r for r in caplog.records if r.name == "tenantgraph.errors"]
    assert logged and logged[0].levelno == logging.ERROR and logged[0].exc_info is not None


async def test_an_outage_that_escapes_is_a_problem_503_on_the_webhook_route() -> None:
    async with client() as http:
        response = await http.post("/webhooks/x", headers={"x-request-id": "down-1"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["requestId"] == "down-1" and body["status"] == 503
    assert "PostgreSQL is down" not in response.text


async def test_an_oserror_of_our_own_is_a_json_500_not_an_outage() -> None:
    async with client() as http:
        response = await http.post("/graphql/file", headers={"x-request-id": "file-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert "retry-after" not in response.headers
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "file-1"}


async def test_a_timeout_of_our_own_is_a_problem_500_not_an_outage() -> None:
    async with client() as http:
        response = await http.post("/webhooks/x/timeout", headers={"x-request-id": "late-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["requestId"] == "late-1" and response.json()["status"] == 500
