"""Webhooks out, the request: one signed POST to the address checked for this attempt, no
redirects, a deadline over the whole exchange, the first KB of the answer kept."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import ssl
import time
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from domain import outbound_delivery as delivery


def client(timeout: float) -> httpx.AsyncClient:
    """One per job run, for its one endpoint: its connections go to addresses, not names, and
    a pool shared by endpoints would send one host's requests over a connection (and TLS
    session) made for another host at the same address. The clients share one TLS context:
    loading the CA bundle for each took 19 ms of CPU, more than the delivery itself."""
    # httpx logs every request at INFO; attempts are recorded in outbound_attempts instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.AsyncClient(
        follow_redirects=False, timeout=timeout, trust_env=False, verify=_tls(),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """Verifies certificates as httpx does by default, built once per process."""
    return httpx.create_ssl_context()


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL with its host replaced by `address` (resolved and checked once for this attempt,
    so a second lookup cannot lead elsewhere), the Host header and the TLS server name."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc)), {"host": host_header}, {"sni_hostname": host}


async def send(
    http: httpx.AsyncClient, url: str, address: str | None, headers: dict[str, str],
    payload: bytes, *, timeout: float,
) -> delivery.Answer:
    """POST `payload`; every failure is an Answer (status None and an error), never raised."""
    target, host, extensions = pinned(url, address)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            request = http.build_request(
                "POST", target, content=payload, headers={**headers, **host}, extensions=extensions
            )
            response = await http.send(request, stream=True)
            try:
                kept = await _first_bytes(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return delivery.Answer(None, error=f"timeout after {timeout:g} s", duration_ms=_ms(started))
    except httpx.TimeoutException:
        return delivery.Answer(None, error=f"timeout after {timeout:g} s", duration_ms=_ms(started))
    except (httpx.HTTPError, OSError) as error:
        return delivery.Answer(None, error=_describe(error), duration_ms=_ms(started))
    return delivery.Answer(
        response.status_code,
        body=kept.decode("utf-8", errors="replace"),
        retry_after=delivery.retry_after(response.headers.get("retry-after"), datetime.now().astimezone()),
        duration_ms=_ms(started),
    )


async def _first_bytes(response: httpx.Response) -> bytes:
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= delivery.RESPONSE_BODY_BYTES:
            break
    return kept[: delivery.RESPONSE_BODY_BYTES]


def _describe(error: Exception) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"connection failed: {error}" if str(error) else "connection failed"
    return f"{type(error).__name__}: {error}"[:500]


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
