"""The fault-injecting TCP proxy of the chaos campaign, against a real echo server on loopback:
each fault does what it says while traffic flows, and healing restores the link."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import pytest
from benchmarks.chaos.faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(60)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def run(test: Callable[[FaultProxy], Awaitable[None]]) -> None:
    async def go() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        proxy = FaultProxy("127.0.0.1", server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            await asyncio.wait_for(test(proxy), 30)
        finally:
            await proxy.close()
            server.close()

    asyncio.run(go())


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await reader.readexactly(len(payload))
    writer.close()
    return data


def test_pass_forwards_bytes_both_ways() -> None:
    async def test(proxy: FaultProxy) -> None:
        payload = bytes(range(256)) * 1000
        assert await roundtrip(proxy.port, payload) == payload
        assert proxy.connections == 1

    run(test)


def test_latency_holds_each_chunk() -> None:
    async def test(proxy: FaultProxy) -> None:
        proxy.set("latency", delay_s=0.2)
        started = time.monotonic()
        assert await roundtrip(proxy.port, b"ping") == b"ping"
        assert time.monotonic() - started >= 0.4  # there and back: two chunks held

    run(test)


def test_bandwidth_caps_each_direction() -> None:
    async def test(proxy: FaultProxy) -> None:
        proxy.set("bandwidth", rate_bps=200_000)
        started = time.monotonic()
        payload = b"x" * 100_000
        assert await roundtrip(proxy.port, payload) == payload
        assert time.monotonic() - started >= 0.5  # 100 kB at 200 kB/s, each way

    run(test)


def test_reset_breaks_open_and_new_connections_until_healed() -> None:
    async def test(proxy: FaultProxy) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"one")
        assert await reader.readexactly(3) == b"one"
        proxy.set("reset")
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            writer.write(b"two")
            await writer.drain()
            await reader.readexactly(3)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await roundtrip(proxy.port, b"new")
        proxy.set("pass")
        assert await roundtrip(proxy.port, b"healed") == b"healed"

    run(test)


def test_blackhole_is_silent_then_heals() -> None:
    async def test(proxy: FaultProxy) -> None:
        proxy.set("blackhole")
        pending = asyncio.ensure_future(roundtrip(proxy.port, b"held"))
        done, _ = await asyncio.wait({pending}, timeout=0.5)
        assert not done  # no answer, no error: silence
        proxy.set("pass")
        assert await asyncio.wait_for(pending, 5) == b"held"  # the held bytes go through

    run(test)


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("10.0.0.1", 5432)


def test_http_error_answers_503_to_new_requests_resets_open_ones_then_heals() -> None:
    async def test(proxy: FaultProxy) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"open")
        assert await reader.readexactly(4) == b"open"
        proxy.set("http-error")
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            writer.write(b"more")
            await writer.drain()
            await reader.readexactly(4)
        writer.close()
        r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        w2.write(b"GET /bucket/key HTTP/1.1\r\nHost: s3\r\n\r\n")
        await w2.drain()
        answer = await asyncio.wait_for(r2.read(), 5)  # the whole answer, then the close
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"Retry-After: 1" in head and b"Connection: close" in head
        assert body == b"service unavailable\n"
        w2.close()
        proxy.set("pass")
        assert await roundtrip(proxy.port, b"healed") == b"healed"

    run(test)


def test_a_server_that_resets_its_end_resets_the_client_too() -> None:
    """An api closing a connection with unread data (RST) must not leave the client waiting:
    a direct connection would have seen the reset."""

    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)  # the request arrived; answer with a reset instead
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def go() -> None:
        server = await asyncio.start_server(rude, "127.0.0.1", 0)
        proxy = FaultProxy("127.0.0.1", server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
            await writer.drain()
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(100), 5) == b""
            writer.close()
        finally:
            await proxy.close()
            server.close()

    asyncio.run(go())
