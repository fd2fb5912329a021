"""A call to PostgreSQL that PostgreSQL failed raises Unavailable, where it is called: refused
connections (asyncio's plain ConnectionRefusedError), the pool's acquire timeout, statement
timeouts on the server and on the client. Any other error stays what it was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from domain.config import Settings
from domain.errors import Unavailable
from server.embedded import free_port
from tables import engine


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    assert settings.database_url is not None
    dsn = engine.app_dsn(settings.database_url, str(settings.app_database_password))
    made = await engine._open(dsn, 1, engine.Timeouts(acquire=0.3, statement=0.2))
    yield made
    await made.close()


async def test_a_refused_connection_is_unavailable() -> None:
    dsn = f"postgresql://{engine.APP_ROLE}@127.0.0.1:{free_port()}/nothing"
    refused = await engine._open(dsn, 1, engine.Timeouts(acquire=2))
    try:
        with pytest.raises(Unavailable) as raised:
            async with refused.acquire():
                pass
        assert isinstance(raised.value.__cause__, OSError)
        with pytest.raises(Unavailable):
            await refused.acquire()
    finally:
        await refused.close()


async def test_no_connection_free_in_time_is_unavailable(pool: asyncpg.Pool) -> None:
    async with pool.acquire():
        with pytest.raises(Unavailable) as raised:
            async with pool.acquire():
                pass
    assert isinstance(raised.value.__cause__, TimeoutError)


async def test_statement_timeouts_on_the_server_and_the_client_are_unavailable(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        with pytest.raises(Unavailable) as server:
            await connection.fetchval("select pg_sleep(2)")
        with pytest.raises(Unavailable) as client:
            await connection.fetchval("select pg_sleep(2)", timeout=0.05)
    assert isinstance(server.value.__cause__, asyncpg.QueryCanceledError)
    assert isinstance(client.value.__cause__, TimeoutError)


async def test_any_other_error_stays_what_it_was(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        with pytest.raises(asyncpg.UndefinedColumnError):
            await connection.fetchval("select no_such_column")
        with pytest.raises(asyncpg.DataError):
            await connection.fetchrow("select $1::int", "not a number")
        assert await connection.fetchval("select 1") == 1


async def test_our_own_timeout_around_a_call_is_not_an_outage(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await connection.fetchval("select pg_sleep(0.15)")
