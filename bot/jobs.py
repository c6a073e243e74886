"""The job kinds that ``schedules:`` in ai-config.yml may name, bound to a running app.

Each job calls the same code a chat command or CLI command would, and posts what it returns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.scheduler import JobFunc
from handlers import alerts
from handlers.types import ChatRequest, Reply

if TYPE_CHECKING:
    from bot.app import VigilApp

log = logging.getLogger(__name__)


def job_table(app: VigilApp) -> dict[str, JobFunc]:
    """Job kind -> coroutine function taking the schedule's ``args``."""

    async def alerts_job(args: Mapping[str, Any]) -> None:
        """One alerts run; each message goes to its routed channel, or all of them to
        ``args.channel`` when the schedule names one."""
        override = str(args.get("channel") or "")
        channel = override or app.settings.channels.route("alerts")
        request = ChatRequest(text="alerts", channel=channel, platform="scheduler", user="vigil")

        async def post(routed: str, reply: Reply) -> None:
            # raises when no platform took it: the outbox keeps it for the next run
            if await app.post(override or routed, reply, must_deliver=True):
                app.metrics.alerts_sent.labels(override or routed).inc()

        await alerts.run(request, app.deps, post)

    async def ingest_job(args: Mapping[str, Any]) -> None:
        """One ingestion run of source ``args.source`` (never raises: a failing source backs
        off and posts its own notices)."""
        if app.ingestion is not None:
            await app.ingestion.run(str(args.get("source", "")))

    async def maintain_job(args: Mapping[str, Any]) -> None:
        """Retention, missing indexes and compaction of the knowledge store."""
        if app.store is not None:
            await asyncio.to_thread(app.store.maintain, app.deps.now())

    async def dataset_job(args: Mapping[str, Any]) -> None:
        """An incremental dataset run (what the vocabulary or the targets added since the last
        one); ``args`` may name ``types`` and ``backend``. A failure is logged and noticed."""
        from bot.datasets import dataset_service
        from training.datasets import GenerationBusy

        service = dataset_service(app.settings)
        types = args.get("types")
        stop = threading.Event()
        try:
            report = await asyncio.to_thread(
                service.generate,
                list(types) if types else None,
                backend=str(args.get("backend", "auto")),  # type: ignore[arg-type]
                stop=stop,
            )
        except GenerationBusy as exc:
            log.info("dataset job skipped: %s", exc)
            return
        except asyncio.CancelledError:  # the job's timeout, or shutdown: stop at a checkpoint
            stop.set()
            raise
        run = report.language
        if run is not None and (run.failed or run.down):
            text = (
                f"dataset job: {run.generated} new samples, {run.failed} failed"
                + (f"; left out: {', '.join(run.down)}" if run.down else "")
                + " (vigil dataset retry-failed asks them again)"
            )
            await app.post(app.settings.channels.route("notices"), Reply(text=text))
        log.info(
            "dataset job: %s new language samples; metrics %s",
            run.generated if run else 0,
            report.metrics.message if report.metrics else "not asked",
        )

    from bot.digests import digest_jobs

    return {
        **digest_jobs(app),
        "alerts": alerts_job,
        "ingest": ingest_job,
        "kb-maintain": maintain_job,
        "dataset": dataset_job,
    }
