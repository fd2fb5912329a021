"""The live dashboard: one HTML page and its assets (plain ES modules and CSS, no build step),
served from this folder at /dashboard and /dashboard/assets/<name>.

The page holds no data of its own: it signs in with a credential kept in sessionStorage and
reads everything from /graphql (queries over POST, subscriptions over graphql-transport-ws).
Its policy allows scripts, styles and connections to this origin only, no inline code."""

from __future__ import annotations

import dataclasses
import hashlib
import mimetypes
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

HERE = Path(__file__).parent
POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",  # POST /graphql and the same-origin WebSocket
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",  # the sign-in form is handled by the page's script
])
PAGE_CACHE = "no-cache"
"""The page is revalidated each time (a cheap 304), so a deploy's new assets are picked up."""
ASSET_CACHE = "public, max-age=300, must-revalidate"


@dataclasses.dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def read(cls, path: Path) -> Asset:
        body = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            media_type = "text/javascript"
        return cls(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')

    def answer(self, request: Request, cache: str, headers: dict[str, str]) -> Response:
        common = {"cache-control": cache, "etag": self.etag, **headers}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=common)
        return Response(self.body, media_type=self.media_type, headers=common)


def routes() -> list[BaseRoute]:
    """/dashboard and its assets, read once (they are small and change only with a deploy)."""
    page = Asset.read(HERE / "index.html")
    assets = {path.name: Asset.read(path) for path in (HERE / "assets").iterdir() if path.is_file()}

    async def dashboard(request: Request) -> Response:
        return page.answer(request, PAGE_CACHE, {"content-security-policy": POLICY})

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            raise HTTPException(404, f"no dashboard asset {request.path_params['name']!r}")
        return found.answer(request, ASSET_CACHE, {})

    return [
        Route("/dashboard", dashboard, methods=["GET"]),
        Route("/dashboard/assets/{name}", asset, methods=["GET"]),
    ]
