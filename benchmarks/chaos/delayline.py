"""A network link between two machines, for the failover benchmark's replication link: a
``FaultProxy`` whose latency is a delay line, plus ``LinkHub``, the proxies on a loop thread.

``FaultProxy``'s ``latency`` mode holds each chunk in turn (a chunk waits for the one before it
to be forwarded), so under a steady stream a byte waits between one and two delays and the link
carries at most one chunk per delay: right for a "slow link" fault, wrong for measuring what a
round trip costs a synchronous commit. ``DelayLine`` keeps the other modes and makes
``latency`` a pipeline: each chunk is forwarded ``delay_s`` after it arrived, however many are
in flight (what a long wire does); ``bandwidth`` still serialises the chunks at ``rate_bps``.

A side that dies ends only its own direction: the other still delivers the bytes it holds
(what the dead machine had sent before dying arrives), then closes.

``cut()`` is what a dead machine does to its link: every open connection is reset and the
bytes still held in the line at that moment are dropped (never delivered), new connections
pass again. The moment is recorded first and checked by the pumps before each delivery, so a
cut asked for from another thread takes effect as of the call, not as of the reset.

``LinkHub.interpose`` has the shape of ``HaPostgres``'s ``replication_link`` hook (link name,
real port → proxy port); the proxies live on the hub's own loop thread, so the hook can be
called from any thread and the delays do not wait on the benchmark's writers.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.chaos.faultproxy import CHUNK, FaultProxy, Mode
from benchmarks.chaos.proxies import LoopHub

QUEUE_CHUNKS = 1024  # at most this many chunks (64 MiB) held per direction


class DelayLine(FaultProxy):
    """A ``FaultProxy`` whose ``latency`` delays every chunk by ``delay_s`` in parallel."""

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        room = asyncio.Semaphore(QUEUE_CHUNKS)

        async def receive() -> None:
            try:
                while True:
                    await room.acquire()
                    if not (data := await reader.read(CHUNK)):
                        break
                    held.put_nowait((loop.time(), data))
            except OSError:
                pass  # the sender is gone: what was received still goes on
            finally:
                held.put_nowait(None)

        receiving = asyncio.create_task(receive())
        try:
            while (item := await held.get()) is not None:
                room.release()
                arrived, data = item
                await self._healed.wait()  # blackholed: hold the bytes
                fault = self.fault
                if fault.mode == "latency":
                    await asyncio.sleep(max(0.0, arrived + fault.delay_s - loop.time()))
                elif fault.mode == "bandwidth" and fault.rate_bps > 0:
                    await asyncio.sleep(len(data) / fault.rate_bps)
                elif fault.mode not in ("pass", "latency", "bandwidth"):
                    writer.transport.abort()
                    return
                if writer.is_closing():  # cut or reset meanwhile: the held bytes are dropped
                    return
                if self.cut_at is not None and arrived <= self.cut_at < loop.time():
                    writer.transport.abort()  # held across a cut: lost with the machine
                    return
                try:
                    writer.write(data)
                    await writer.drain()
                except OSError:  # the receiving side died: this direction is over, quietly,
                    return  # so the other one still delivers what it holds
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        finally:
            receiving.cancel()

    cut_at: float | None = None
    """The last cut's moment (``time.monotonic()``, the loop's clock): no chunk that arrived
    before it is delivered after it, even if the reset itself comes later."""

    def cut(self, at: float | None = None) -> None:
        """Reset every open connection, dropping the bytes in flight (those that arrived
        before ``at``, default now, and were not delivered by then); the fault stays."""
        self.cut_at = time.monotonic() if at is None else at
        fault = self.fault
        self.set("reset")
        self.set(fault.mode, delay_s=fault.delay_s, rate_bps=fault.rate_bps)


class LinkHub(LoopHub[DelayLine]):
    """``DelayLine`` proxies by link name, served by a daemon thread running an event loop."""

    def __init__(self) -> None:
        super().__init__("links")

    def interpose(self, name: str, port: int) -> int:
        """A proxy named ``name`` in front of ``127.0.0.1:port`` (kept if it exists); its port."""
        proxy = self.proxies.get(name)
        if proxy is None or proxy.target[1] != port:
            proxy = DelayLine("127.0.0.1", port)
            self._call(proxy.start())
            self.proxies[name] = proxy
        return proxy.port

    def set(self, mode: Mode, *, delay_s: float = 0.0, rate_bps: float = 0.0) -> None:
        """Every link's fault (``pass`` heals)."""

        async def change() -> None:
            for proxy in self.proxies.values():
                proxy.set(mode, delay_s=delay_s, rate_bps=rate_bps)

        self._call(change())

    def cut(self, name: str) -> None:
        """Link ``name`` drops its connections and the bytes in flight (``DelayLine.cut``) as
        of the moment of this call, although the reset runs a little later on the loop."""
        proxy = self.proxies[name]
        proxy.cut_at = at = time.monotonic()  # seen by the pumps at once

        async def cut() -> None:
            proxy.cut(at)

        self._call(cut())

    def __enter__(self) -> LinkHub:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
