"""A page on another origin, for browser tests of what a frontend there may do (CORS, SSE)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from server.embedded import free_port


@contextlib.asynccontextmanager
async def serve(page: bytes) -> AsyncIterator[str]:
    """Serves `page` at every path on a port of its own; yields its origin, reached as
    localhost (the API is reached as 127.0.0.1: another origin)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: "
                     + str(len(page)).encode() + b"\r\nconnection: close\r\n\r\n" + page)
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        yield f"http://localhost:{port}"
