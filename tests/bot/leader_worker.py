"""A replica for the leader-lease tests: competes for the lease in a shared job store and, while
leader, runs a one-second ``tick`` job that appends ``HOLDER TIME`` to a file.

    python -m tests.bot.leader_worker URL OUT HOLDER LEASE_S

SIGTERM stops it gracefully (the lease is released); SIGKILL is the drill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import JobSchedule
from bot.leader import LeaderLease, Leadership
from bot.scheduler import VigilScheduler


async def main(url: str, out: Path, holder: str, lease_s: float) -> None:
    async def tick(args: Mapping[str, Any]) -> None:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(f"{holder} {time.time():.3f}\n")
            handle.flush()
            os.fsync(handle.fileno())

    leadership: Leadership | None = None
    scheduler = VigilScheduler(
        url,
        {"tick": JobSchedule(every=timedelta(seconds=1), timeout=timedelta(seconds=5))},
        {"tick": tick},
        may_run=lambda: leadership is not None and leadership.holds_lease(),
    )

    async def elected() -> None:
        scheduler.start()

    async def deposed() -> None:
        await scheduler.stop()

    leadership = Leadership(LeaderLease(url, lease_s, holder=holder), elected, deposed)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await leadership.start()
    print("ready", flush=True)
    await stop.wait()
    await leadership.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
