"""``Services.start``: a store that cannot be reached at start does not stop the process; it is
opened in the background once it answers (found by the chaos campaign: roles restarted while
the object store answered 503 crash-looped)."""

from __future__ import annotations

import asyncio

import pytest

from reelstream import services as services_module
from reelstream.config import Settings
from reelstream.services import build_services
from reelstream.storage.errors import StorageError


@pytest.mark.timeout(30)
def test_an_unreachable_store_at_start_is_opened_later(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services_module, "STORE_RETRY_FIRST_S", 0.01)
    settings.prepare()
    svc = build_services(settings)
    real_open, calls = svc.store.open, []

    async def flaky_open() -> None:
        calls.append(1)
        if len(calls) <= 3:
            raise StorageError("503 Service Unavailable")
        await real_open()

    monkeypatch.setattr(svc.store, "open", flaky_open)

    async def go() -> None:
        await svc.start()  # does not raise
        for _ in range(500):
            if len(calls) >= 4:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # time for more attempts, were the loop not to stop
        await svc.close()

    asyncio.run(go())
    assert len(calls) == 4  # three failures, then opened; no more attempts after success
