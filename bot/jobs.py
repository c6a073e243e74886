"""The job kinds that ``schedules:`` in ai-config.yml may name, bound to a running app.

Each job calls the same code a chat command or CLI command would, and posts what it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.scheduler import JobFunc
from handlers import alerts
from handlers.types import ChatRequest
from knowledge.ingest import ingest_telemetry
from knowledge.summarise import WINDOW, windows
from knowledge.timeparse import parse_duration

if TYPE_CHECKING:
    from bot.app import VigilApp

DEFAULT_BACKFILL = timedelta(hours=2)


def job_table(app: VigilApp) -> dict[str, JobFunc]:
    """Job kind -> coroutine function taking the schedule's ``args``."""

    async def alerts_job(args: Mapping[str, Any]) -> None:
        channel = str(args.get("channel") or app.settings.channels.route("alerts"))
        request = ChatRequest(text="alerts", channel=channel, platform="scheduler", user="vigil")
        reply = await alerts.check(request, app.deps)
        if reply is not None:
            await app.post(channel, reply)

    async def ingest_job(args: Mapping[str, Any]) -> None:
        """Summarise the telemetry windows completed since the last run into the store.
        ``args.backfill``: how far back the first run reaches (default 2h)."""
        reader, store = app.deps.telemetry, app.store
        if reader is None or store is None:
            return
        now = reader.now()
        start = app.ingest_cursor or now - parse_duration(args.get("backfill", DEFAULT_BACKFILL))
        ends = [w + WINDOW for w in windows(start, now)]
        if not ends:
            return
        end = ends[-1]
        await asyncio.to_thread(
            ingest_telemetry,
            store,
            reader,
            app.settings.ai.analysis,
            start,
            end,
            app.deps.redactor.redact,
            str(args.get("source", "demo")),
        )
        app.ingest_cursor = end

    async def maintain_job(args: Mapping[str, Any]) -> None:
        """Retention, missing indexes and compaction of the knowledge store."""
        if app.store is not None:
            await asyncio.to_thread(app.store.maintain, app.deps.now())

    return {"alerts": alerts_job, "ingest": ingest_job, "kb-maintain": maintain_job}
