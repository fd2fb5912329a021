"""Security headers on every HTTP response, and the Content-Security-Policy GraphiQL runs under.

The API answers JSON, which a browser should never render, frame or sniff: its policy allows
nothing. The one HTML page is Strawberry's GraphiQL, which loads pinned files (with integrity
hashes) from a CDN and runs one inline script: its policy allows exactly those URLs and the
hashes of its inline script and style, computed from the page itself so that a Strawberry upgrade
cannot leave the policy behind.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.config import Settings
from server.graphiql import graphiql_page

LOCKED = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=63072000; includeSubDomains"
COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def graphiql_policy(html: str) -> str:
    """The narrowest policy under which this GraphiQL page loads, queries and subscribes."""
    scripts = re.findall(r"<script\b[^>]*\ssrc=\"([^\"]+)\"", html)
    styles = [
        href for tag in re.findall(r"<link\b[^>]*>", html) if 'rel="stylesheet"' in tag
        for href in re.findall(r"\shref=\"([^\"]+)\"", tag)
    ]
    inline_scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    inline_styles = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    return "; ".join([
        "default-src 'none'",
        " ".join(["script-src", *scripts, *map(_hash, inline_scripts)]),
        " ".join(["style-src", *styles, *map(_hash, inline_styles)]),
        "img-src data:",  # the page's favicon
        "font-src data:",  # graphiql.min.css embeds its fonts
        "connect-src 'self'",  # queries over fetch, subscriptions over a same-origin WebSocket
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ])


def _hash(inline: str) -> str:
    digest = hashlib.sha256(inline.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


class SecurityHeaders:
    """ASGI middleware: adds the headers to every HTTP response that has not set them itself.
    HSTS only where the client reached us over TLS: TRUST_TLS (a proxy ends TLS in front of
    us) or an https scope."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.trust_tls = settings.trust_tls
        self.html_policy = graphiql_policy(graphiql_page())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = self.trust_tls or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), tls)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, tls: bool) -> None:
        for name, value in COMMON.items():
            headers.setdefault(name, value)
        html = headers.get("content-type", "").startswith("text/html")
        headers.setdefault("content-security-policy", self.html_policy if html else LOCKED)
        if tls:
            headers.setdefault("strict-transport-security", HSTS)
