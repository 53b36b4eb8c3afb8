"""Wake-ups between the server processes of one data dir (``serve --workers N`` on SQLite):
``notify()`` in one process wakes a worker waiting in another; markers of dead processes are
dropped; ``create_notifier`` chooses it only when several processes serve the data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reelstream.config import Settings
from reelstream.queue.notify import MemoryNotifier, create_notifier
from reelstream.queue.notify.local import LocalProcessesNotifier

WAITER = """
import asyncio, sys
from pathlib import Path
from reelstream.queue.notify.local import LocalProcessesNotifier

async def main():
    n = LocalProcessesNotifier(Path(sys.argv[1]))
    await n.start()
    print("ready", flush=True)
    woke = await n.wait(30)
    print("woken" if woke else "timed out", flush=True)
    await n.close()

asyncio.run(main())
"""


def dead_pid() -> int:
    pid = 999_999
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


async def test_notify_wakes_a_worker_waiting_in_another_process(tmp_path: Path) -> None:
    folder = tmp_path / "wake"
    mine = LocalProcessesNotifier(folder)
    await mine.start()
    try:
        gone = dead_pid()
        (folder / str(gone)).touch()  # a process that died without closing
        with subprocess.Popen(
            [sys.executable, "-c", WAITER, str(folder)], stdout=subprocess.PIPE, text=True
        ) as waiter:
            try:
                assert waiter.stdout is not None
                assert waiter.stdout.readline().strip() == "ready"
                assert (folder / str(waiter.pid)).exists()
                mine.notify()
                assert waiter.stdout.readline().strip() == "woken"
                assert waiter.wait(30) == 0
            finally:
                waiter.kill()
        assert not (folder / str(waiter.pid)).exists()  # removed by its close()
        assert not (folder / str(gone)).exists()  # refused: dropped by the broadcast
        assert await mine.wait(0.01)  # notify() woke this process's workers too
    finally:
        await mine.close()
    assert not (folder / str(os.getpid())).exists()


def test_create_notifier_uses_it_only_for_several_processes(settings: Settings) -> None:
    assert isinstance(create_notifier(settings), MemoryNotifier)
    settings.http_workers = 1
    assert isinstance(create_notifier(settings), MemoryNotifier)
    settings.http_workers = 2
    notifier = create_notifier(settings)
    assert isinstance(notifier, LocalProcessesNotifier)
    assert notifier.folder == settings.data_dir / "wake"
