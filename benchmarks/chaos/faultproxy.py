"""A fault-injecting TCP proxy for the chaos campaign: put it between a role and an engine
(an api and PostgreSQL, an origin and Swift, the edge and an origin) and change, while traffic
flows, what the link does:

* ``pass``: bytes go through as they are;
* ``latency``: each chunk is held ``delay_s`` before it is forwarded (both directions);
* ``bandwidth``: each direction is capped at ``rate_bps`` bytes a second;
* ``reset``: every open connection is reset (RST, not FIN) and new ones are reset at once;
* ``blackhole``: connections are accepted and held, nothing is forwarded or answered, until
  the fault ends (a frozen network, the "gray" failure: no error, just silence);
* ``http-error``: an HTTP server that fails (an object store answering errors): every new
  connection gets ``503 Service Unavailable`` (with ``Retry-After``) to its first request and is
  closed; open connections are reset. For HTTP links only.

Why by hand: the fault libraries for Python either need root and ``tc``/``iptables`` (network
namespaces, netem) or a separate server process with its own API (Toxiproxy, a Go binary not
packaged for Debian 12); an asyncio proxy of one module, in the harness's own process, is
enough for loopback tests and needs neither. Loopback only: it listens on 127.0.0.1 and refuses
a target that is not a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Literal

from reelstream.devcluster.process import free_port

Mode = Literal["pass", "latency", "bandwidth", "reset", "blackhole", "http-error"]
CHUNK = 64 * 1024
HTTP_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
    b"Content-Length: 20\r\nConnection: close\r\n\r\nservice unavailable\n"
)
HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 5.0


@dataclass
class Fault:
    mode: Mode = "pass"
    delay_s: float = 0.0
    rate_bps: float = 0.0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER on, timeout 0."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _answer_503(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request head (bounded in size and time), answer 503 and close."""
    with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        async with asyncio.timeout(HEAD_TIMEOUT_S):
            head = b""
            while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                data = await reader.read(CHUNK)
                if not data:
                    break
                head += data
        writer.write(HTTP_503)
        await writer.drain()
    writer.close()


class FaultProxy:
    """``127.0.0.1:port`` forwarding to ``target_host:target_port``, with a settable fault."""

    def __init__(self, target_host: str, target_port: int) -> None:
        if not ipaddress.ip_address(target_host).is_loopback:
            raise ValueError(f"the fault proxy forwards to loopback addresses only: {target_host}")
        self.target = (target_host, target_port)
        self.fault = Fault()
        self.port = 0
        self.connections = 0  # accepted so far
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._healed = asyncio.Event()
        self._healed.set()

    async def start(self) -> int:
        # a port no role of the cluster was given (``free_port``): never its own target's
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", free_port())
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        self.set("pass")
        if self._server is not None:
            self._server.close()
        for client, upstream in list(self._links):
            _reset(client)
            if upstream is not None:
                _reset(upstream)
        if self._server is not None:
            await self._server.wait_closed()

    def set(self, mode: Mode, *, delay_s: float = 0.0, rate_bps: float = 0.0) -> None:
        """Change the fault; ``reset`` also resets every open connection now."""
        self.fault = Fault(mode, delay_s, rate_bps)
        if mode == "blackhole":
            self._healed.clear()
        else:
            self._healed.set()
        if mode in ("reset", "http-error"):
            for client, upstream in list(self._links):
                _reset(client)
                if upstream is not None:
                    _reset(upstream)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.fault.mode == "reset":
            _reset(writer)
            return
        if self.fault.mode == "http-error":
            await _answer_503(reader, writer)
            return
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._links.add(link)
        try:
            await self._healed.wait()  # a blackhole holds new connections silently
            now: Fault = self.fault  # it may have changed while this connection waited
            if now.mode == "reset":
                _reset(writer)
                return
            if now.mode == "http-error":
                await _answer_503(reader, writer)
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._links.discard(link)
            link = (writer, up_writer)
            self._links.add(link)
            await self._relay(reader, writer, up_reader, up_writer)
        except OSError:
            _reset(writer)
        finally:
            self._links.discard(link)
            for w in link:
                if w is not None and not w.is_closing():
                    w.close()

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Both directions until both ended. A side that breaks (reset, error) breaks the other
        too, as a direct connection would: a client must never wait on a dead server's link
        (the campaign saw nginx hang 15 s on an api that reset its end of the link)."""
        pumps = {
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        }
        done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        if any(not t.cancelled() and t.exception() is not None for t in done):
            _reset(writer)
            _reset(up_writer)
            for t in pending:
                t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction: copy until EOF, applying the fault to each chunk."""
        while data := await reader.read(CHUNK):
            await self._healed.wait()  # blackholed: hold the bytes, forward nothing
            fault = self.fault
            if fault.mode == "latency" and fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            elif fault.mode == "bandwidth" and fault.rate_bps > 0:
                await asyncio.sleep(len(data) / fault.rate_bps)
            elif fault.mode in ("reset", "http-error"):
                _reset(writer)
                return
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
