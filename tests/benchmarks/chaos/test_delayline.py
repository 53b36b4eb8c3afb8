"""The replication link's proxy (``DelayLine``, ``LinkHub``) against a real echo server on
loopback: bytes go through intact, latency holds each chunk, a cut drops the bytes still in
flight and the link carries new connections afterwards, and the hub works from any thread."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from benchmarks.chaos.delayline import DelayLine, LinkHub
from benchmarks.chaos.faultproxy import _reset

from tests.benchmarks.chaos.test_faultproxy import echo, roundtrip

pytestmark = pytest.mark.timeout(60)


def test_latency_holds_each_chunk_and_keeps_the_bytes() -> None:
    async def go() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        proxy = DelayLine("127.0.0.1", server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            payload = bytes(range(256)) * 2000
            assert await roundtrip(proxy.port, payload) == payload
            proxy.set("latency", delay_s=0.2)
            started = time.monotonic()
            assert await roundtrip(proxy.port, payload) == payload
            assert time.monotonic() - started >= 0.4  # there and back
        finally:
            await proxy.close()
            server.close()

    asyncio.run(asyncio.wait_for(go(), 30))


def test_a_cut_drops_the_bytes_in_flight_and_the_link_heals() -> None:
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.append(data)
            writer.write(data)
            await writer.drain()
        writer.close()

    async def go() -> None:
        server = await asyncio.start_server(record, "127.0.0.1", 0)
        proxy = DelayLine("127.0.0.1", server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            proxy.set("latency", delay_s=5.0)
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"in flight")
            await writer.drain()
            await asyncio.sleep(0.3)  # the proxy has read it and holds it for 5 s
            proxy.cut()
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await asyncio.wait_for(reader.readexactly(9), 10)
            writer.close()
            assert received == []  # never delivered
            assert proxy.fault.mode == "latency"  # the fault stays
            proxy.set("pass")
            assert await roundtrip(proxy.port, b"healed") == b"healed"
        finally:
            await proxy.close()
            server.close()

    asyncio.run(asyncio.wait_for(go(), 30))


def test_a_cut_counts_from_its_moment_not_from_the_reset() -> None:
    """The moment alone (as ``LinkHub.cut`` records it before the reset reaches the loop):
    a chunk held across it is not delivered."""
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.append(data)
        writer.close()

    async def go() -> None:
        server = await asyncio.start_server(record, "127.0.0.1", 0)
        proxy = DelayLine("127.0.0.1", server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            proxy.set("latency", delay_s=0.5)
            _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"in flight")
            await writer.drain()
            await asyncio.sleep(0.2)
            proxy.cut_at = time.monotonic()  # no reset yet
            await asyncio.sleep(1.0)  # past the chunk's due time
            writer.close()
            assert received == []
        finally:
            await proxy.close()
            server.close()

    asyncio.run(asyncio.wait_for(go(), 30))


def test_the_hub_serves_links_from_another_thread() -> None:
    with socket.create_server(("127.0.0.1", 0)) as target:
        port = target.getsockname()[1]
        with LinkHub() as hub:
            proxy_port = hub.interpose("replication-pg-1", port)
            assert proxy_port != port
            assert hub.interpose("replication-pg-1", port) == proxy_port  # kept
            hub.set("latency", delay_s=0.01)
            assert hub.proxies["replication-pg-1"].fault.delay_s == 0.01
            with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as client:
                client.sendall(b"x")
                accepted, _ = target.accept()
                accepted.close()
            hub.cut("replication-pg-1")
        assert not hub.loop.is_running()


def test_what_a_dead_sender_sent_still_arrives() -> None:
    """The server writes and dies (RST) while its bytes are held and the client keeps
    talking to it: the held bytes are delivered, then the link closes."""
    servers: list[asyncio.StreamWriter] = []

    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        servers.append(writer)

    async def go() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        proxy = DelayLine("127.0.0.1", server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            proxy.set("latency", delay_s=0.3)
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"hello")
            await writer.drain()
            while not servers:
                await asyncio.sleep(0.01)
            servers[0].write(b"last words")
            await servers[0].drain()
            await asyncio.sleep(0.05)
            _reset(servers[0])  # dies with "hello" unread: RST
            for _ in range(3):  # the client goes on talking to the dead server
                writer.write(b"feedback")
                await writer.drain()
                await asyncio.sleep(0.1)
            assert await asyncio.wait_for(reader.readexactly(10), 5) == b"last words"
            writer.close()
        finally:
            await proxy.close()
            server.close()

    asyncio.run(asyncio.wait_for(go(), 30))
