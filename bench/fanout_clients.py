"""Scenario (f)'s observers, each in a process of its own so that their work does not land in
the load generator's event loop (which paces the inserts) nor in each other's:

    python -m bench.fanout_clients sockets   # the subscribers: one WebSocket each
    python -m bench.fanout_clients tap       # a Redis subscriber on the relay's channel

They run on uvloop and decode with orjson. The first line on stdin is the spec (JSON: for
`sockets` {"sockets": [[tenant id, url, API key], ...], "query": ...}, for `tap` {"redis": url});
they print `ready` once listening. Then `clear` forgets what was recorded (the warm-up) and
prints `cleared`; `stop` prints what was recorded since, one JSON line of
[tenant id, sentAt, received at] per bench.tick event (time.perf_counter, CLOCK_MONOTONIC: one
clock for every process of the machine), and exits.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
import uvloop
import websockets

from domain import envelope

Record = list[Any]


async def _socket(tenant: str, url: str, key: str, query: str, records: list[Record]) -> Any:
    socket = await websockets.connect(url, subprotocols=["graphql-transport-ws"], compression=None,
                                      open_timeout=60, ping_interval=None, max_queue=None)
    await socket.send(orjson.dumps({"type": "connection_init",
                                    "payload": {"Authorization": f"Bearer {key}"}}).decode())
    await socket.recv()
    await socket.send(orjson.dumps({"type": "subscribe", "id": "1",
                                    "payload": {"query": query}}).decode())
    asyncio.get_running_loop().create_task(_read(socket, tenant, records))
    return socket


async def _read(socket: Any, tenant: str, records: list[Record]) -> None:
    async for message in socket:
        received = time.perf_counter()
        data = orjson.loads(message)
        if data.get("type") == "next":
            sent_at = data["payload"]["data"]["events"]["payload"]["sentAt"]
            records.append([tenant, sent_at, received])


async def _sockets(spec: dict[str, Any], records: list[Record]) -> list[Any]:
    made: list[Any] = []
    for batch in range(0, len(spec["sockets"]), 50):
        made += await asyncio.gather(*(
            _socket(tenant, url, key, spec["query"], records)
            for tenant, url, key in spec["sockets"][batch:batch + 50]))
    return made


async def _tap(spec: dict[str, Any], records: list[Record]) -> Any:
    client = aioredis.Redis.from_url(spec["redis"])
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(envelope.CHANNEL)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation: listening from here
    asyncio.get_running_loop().create_task(_tapped(pubsub, records))
    return client


async def _tapped(pubsub: Any, records: list[Record]) -> None:
    async for message in pubsub.listen():
        received = time.perf_counter()
        if message["type"] != "message":
            continue
        for raw in envelope.decode(message["data"]):
            if raw["type"] == "bench.tick":
                records.append([raw["tenantId"], raw["payload"]["sentAt"], received])


async def _main(mode: str) -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    spec = orjson.loads(await stdin.readline())
    records: list[Record] = []
    held = await (_sockets(spec, records) if mode == "sockets" else _tap(spec, records))
    print("ready", flush=True)
    while (command := (await stdin.readline()).strip()) not in (b"stop", b""):
        if command == b"clear":
            records.clear()
            print("cleared", flush=True)
    sys.stdout.write(orjson.dumps(records).decode() + "\n")
    sys.stdout.flush()
    del held


if __name__ == "__main__":
    uvloop.run(_main(sys.argv[1]))
