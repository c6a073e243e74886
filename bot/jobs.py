"""The job kinds that ``schedules:`` in ai-config.yml may name, bound to a running app.

Each job calls the same code a chat command or CLI command would, and posts what it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.scheduler import JobFunc
from handlers import alerts
from handlers.types import ChatRequest

if TYPE_CHECKING:
    from bot.app import VigilApp


def job_table(app: VigilApp) -> dict[str, JobFunc]:
    """Job kind -> coroutine function taking the schedule's ``args``."""

    async def alerts_job(args: Mapping[str, Any]) -> None:
        """One alerts run; each message goes to its routed channel, or all of them to
        ``args.channel`` when the schedule names one."""
        override = str(args.get("channel") or "")
        channel = override or app.settings.channels.route("alerts")
        request = ChatRequest(text="alerts", channel=channel, platform="scheduler", user="vigil")
        for routed, reply in await alerts.check(request, app.deps):
            await app.post(override or routed, reply)

    async def ingest_job(args: Mapping[str, Any]) -> None:
        """One ingestion run of source ``args.source`` (never raises: a failing source backs
        off and posts its own notices)."""
        if app.ingestion is not None:
            await app.ingestion.run(str(args.get("source", "")))

    async def maintain_job(args: Mapping[str, Any]) -> None:
        """Retention, missing indexes and compaction of the knowledge store."""
        if app.store is not None:
            await asyncio.to_thread(app.store.maintain, app.deps.now())

    return {"alerts": alerts_job, "ingest": ingest_job, "kb-maintain": maintain_job}
