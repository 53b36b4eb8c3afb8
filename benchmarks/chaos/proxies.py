"""The campaign's links: one ``FaultProxy`` per link of the cluster, on one event loop thread.

``ProxyHub.interpose`` is the ``ClusterSpec.interpose`` hook: the cluster calls it with a link's
name (``"redis"``, ``"swift-proxy"``, ``"postgres-<server>"``, ``"origin-1"``, ``"api-2"``, ...) and
the real port, and gets back the port of a new proxy in front of it. ``set`` changes a link's
fault from any thread (the proxy itself lives on the hub's loop). Loopback only, as the proxy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from benchmarks.chaos.faultproxy import FaultProxy, Mode

T = TypeVar("T")
P = TypeVar("P", bound=FaultProxy)
CALL_TIMEOUT_S = 10.0


class LoopHub(Generic[P]):
    """Proxies by link name, served by a daemon thread running an asyncio loop; ``_call`` runs
    a coroutine there from any thread."""

    def __init__(self, thread_name: str) -> None:
        self.proxies: dict[str, P] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=thread_name)
        self._thread.daemon = True
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT_S)

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(p.close() for p in self.proxies.values()))

        if self.loop.is_running():
            self._call(close_all())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
        if not self.loop.is_running():
            self.loop.close()


class ProxyHub(LoopHub[FaultProxy]):
    """Fault proxies by link name (the campaign's links)."""

    def __init__(self) -> None:
        super().__init__("faultproxies")

    def interpose(self, name: str, port: int) -> int:
        """Start a proxy named ``name`` in front of ``127.0.0.1:port``; return its port."""
        if name in self.proxies:
            raise ValueError(f"link {name!r} has a proxy already")
        proxy = FaultProxy("127.0.0.1", port)
        self._call(proxy.start())
        self.proxies[name] = proxy
        return proxy.port

    def links(self) -> list[str]:
        return sorted(self.proxies)

    def set(self, name: str, mode: Mode, *, delay_s: float = 0.0, rate_bps: float = 0.0) -> None:
        """Change link ``name``'s fault (``pass`` heals it)."""
        proxy = self.proxies[name]

        async def change() -> None:
            proxy.set(mode, delay_s=delay_s, rate_bps=rate_bps)

        self._call(change())

    def modes(self) -> dict[str, str]:
        return {name: proxy.fault.mode for name, proxy in self.proxies.items()}

    def heal_all(self) -> None:
        for name in self.proxies:
            self.set(name, "pass")
