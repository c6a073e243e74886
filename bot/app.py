"""The composition root: builds the dependencies once and wires handlers, channels and jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from bot.anomaly import ModelService
from bot.channels import ChannelHub
from bot.config import JobSchedule, Settings
from bot.digests import digest_schedules
from bot.http import HttpServer
from bot.ingestion import Ingestion
from bot.jobs import job_table
from bot.knowledge import build_answerer, make_redactor, open_store, runbooks_dir
from bot.leader import LeaderLease, Leadership, default_holder
from bot.metrics import Metrics
from bot.scheduler import JobStats, VigilScheduler
from handlers import messages
from handlers.alertbook import AlertBook
from handlers.deps import Deps
from handlers.registry import Registry, default_registry
from handlers.router import Router
from handlers.types import ChatRequest, Platform, Reply
from knowledge.errors import StoreError, VigilError
from knowledge.incidents import INCIDENTS_FILE, IncidentMemory
from knowledge.ingest import sync_domain, sync_runbooks
from knowledge.sources.base import Redact, Source, TelemetryReader
from knowledge.sources.registry import build_sources
from knowledge.statefile import Watermarks
from knowledge.store import KnowledgeStore
from training.live import LiveScorer

log = logging.getLogger(__name__)

WATERMARKS_FILE = "watermarks.json"
ALERTS_FILE = "alerts.json"


def build_configured_sources(settings: Settings, redact: Redact) -> list[Source]:
    """The sources that ``sources:`` in ai-config.yml and the environment configure."""
    return build_sources(
        settings.ai.sources,
        settings.env.model_dump(),
        Path(settings.data_dir) / "sources",
        redact,
        settings.ai.analysis,
    )


def ingest_schedules(
    schedules: Mapping[str, JobSchedule], sources: Iterable[Source]
) -> dict[str, JobSchedule]:
    """``schedules`` plus an ``ingest:NAME`` job for every source no schedule already ingests,
    with the source's own interval and timeout."""
    merged = dict(schedules)
    covered = {
        str(s.args.get("source")) for s in schedules.values() if (s.job or "") == "ingest"
    } | {str(s.args.get("source")) for n, s in schedules.items() if n == "ingest"}
    for source in sources:
        if source.name in covered:
            continue
        merged[f"ingest:{source.name}"] = JobSchedule(
            job="ingest",
            every=source.config.every,
            # the runner enforces the source's timeout itself; this only guards the job
            timeout=source.config.timeout + timedelta(seconds=10),
            args={"source": source.name},
        )
    return merged


class VigilApp:
    def __init__(
        self,
        settings: Settings,
        telemetry: TelemetryReader | None = None,
        schedules: Mapping[str, JobSchedule] | None = None,
        registry: Registry | None = None,
        instance: str = "main",
        knowledge: bool = True,
        sources: Sequence[Source] | None = None,
        watermarks: Watermarks | None = None,
    ) -> None:
        self.settings = settings
        redactor = make_redactor(settings)
        self.store_error: StoreError | None = None
        self.store: KnowledgeStore | None = None
        if knowledge:
            try:
                self.store = open_store(settings)
            except StoreError as exc:
                self.store_error = exc
                log.error("knowledge store unavailable: %s", exc)
        self.deps = Deps(
            analysis=settings.ai.analysis,
            telemetry=telemetry,
            redactor=redactor,
            answerer=build_answerer(settings, redactor, self.store),
            incident_memory=IncidentMemory(
                self.store, Path(settings.data_dir) / INCIDENTS_FILE, redactor
            ),
        )
        self.deps.alerts = AlertBook(settings.ai.alerts, Path(settings.data_dir) / ALERTS_FILE)
        self.deps.alert_router = settings.channels.alert_router()
        self.deps.digests = settings.channels.digests
        self.models: ModelService | None = None
        if telemetry is not None:
            anomaly = settings.ai.anomaly
            self.models = ModelService(
                Path(settings.data_dir), anomaly.check_model_every.total_seconds()
            )
            self.deps.detect = LiveScorer(
                self.models.current,
                telemetry,
                history=anomaly.history,
                window=anomaly.window,
                refit=anomaly.refit,
                step_s=int(anomaly.step.total_seconds()),
            ).detect
        self._sync_task: asyncio.Task[None] | None = None
        self.ingestion: Ingestion | None = None
        if self.store is not None:
            if sources is None:
                sources = build_configured_sources(settings, redactor.redact)
            self.ingestion = Ingestion(
                self.store,
                sources,
                watermarks or Watermarks(Path(settings.data_dir) / "sources" / WATERMARKS_FILE),
                redactor.redact,
                now=self.deps.now,
                notify=self._ingestion_notice,
            )
            self.deps.ingestion_status = self.ingestion.lines
        schedules = settings.ai.schedules if schedules is None else schedules
        schedules = {**digest_schedules(settings.channels.digests), **schedules}
        if self.ingestion is not None:
            schedules = ingest_schedules(schedules, self.ingestion.sources.values())
        self.registry = registry or default_registry()
        self.metrics = Metrics()
        self.router = Router(
            self.registry,
            access=settings.channels.access,
            limits=settings.ai.chat,
            observe=self.metrics.observe_request,
        )
        self.hub = ChannelHub()
        self.leadership: Leadership | None = None
        if settings.env.VIGIL_ROLE != "chat":
            self.leadership = Leadership(
                LeaderLease(
                    settings.env.scheduler_db_url(),
                    settings.ai.scheduler.lease.total_seconds(),
                    holder=default_holder(instance),
                ),
                on_elected=self._elected,
                on_deposed=self._deposed,
            )
        self.scheduler = VigilScheduler(
            store=settings.env.scheduler_db_url(),
            schedules=schedules,
            jobs=job_table(self),
            instance=instance,
            config_source=str(settings.config_dir / "ai-config.yml"),
            on_failure=self._job_failed,
            on_recovery=self._job_recovered,
            may_run=self.leadership.holds_lease if self.leadership else None,
        )
        self.metrics.bind(self)

    async def start(self, wait_for_model: bool = False) -> None:
        """Start the jobs. ``wait_for_model``: when no anomaly model is promoted yet, train the
        default one before the first alerts run (the demo); otherwise it trains meanwhile."""
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        if self.models is not None and self.settings.env.VIGIL_ROLE != "chat":
            # chat workers use what the replicas that run jobs train and promote
            self.models.ensure()
            if wait_for_model:
                await asyncio.to_thread(self.models.wait)
        if self.leadership is not None:
            # a lone replica holds the lease at once and starts its jobs before this returns
            await self.leadership.start()
        if self.store_error is not None:
            await self.post(
                self.settings.channels.route("notices"),
                Reply(messages.STORE_UNAVAILABLE.format(reason=self.store_error), error=True),
            )
        elif self.store is not None and self.settings.env.VIGIL_ROLE != "chat":
            # in the background (the embedding model loads first); chat workers leave writing
            # the shared store to the replicas that run the jobs
            self._sync_task = asyncio.create_task(asyncio.to_thread(self.sync_knowledge))

    def sync_knowledge(self) -> None:
        """Load the runbooks and the domain notes of ai-config into the store."""
        if self.store is None:
            return
        redact = self.deps.redactor.redact
        try:
            sync_domain(self.store, self.settings.ai.analysis, redact)
            report = sync_runbooks(
                self.store,
                runbooks_dir(self.settings),
                redact,
                on_error=lambda e: log.warning("runbook skipped: %s", e),
            )
            log.info("runbooks: %s", report.line())
        except VigilError as exc:
            log.error("could not load runbooks and domain notes: %s", exc)

    async def stop(self) -> None:
        if self.leadership is not None:
            await self.leadership.stop()
        await self.scheduler.stop()
        if self._sync_task is not None:
            await self._sync_task
        if self.models is not None:
            await asyncio.to_thread(self.models.wait)
        if self.ingestion is not None:
            await self.ingestion.wait_idle()
            self.ingestion.close()

    def serve_operations(self, http: HttpServer) -> None:
        """``/metrics`` and the scheduler's part of ``/healthz`` and ``/readyz`` on ``http``."""
        http.metrics = self.metrics.render
        http.checks["scheduler"] = self._scheduler_health

    def _scheduler_health(self) -> dict[str, object]:
        role = self.settings.env.VIGIL_ROLE
        if self.leadership is None:
            return {"ok": True, "role": role, "jobs": "not run here"}
        health: dict[str, object] = {
            "ok": True,  # a standby is healthy; a lost job store is retried, not restarted
            "role": role,
            "leader": self.leadership.leader,
            "jobs": "running" if self.scheduler.running else "standing by",
        }
        if self.leadership.last_error:
            health["error"] = self.leadership.last_error
        return health

    async def _elected(self) -> None:
        # another replica may have run the jobs until now: start from what it wrote (the
        # alert book re-reads its file by itself)
        if self.ingestion is not None:
            self.ingestion.watermarks.reload()
        self.scheduler.start()

    async def _deposed(self) -> None:
        assert self.leadership is not None
        # a lost lease: another replica may take over after the rest of it (a third), so the
        # jobs under way get a sixth; a graceful stop releases the lease only after them
        lease_s = self.settings.ai.scheduler.lease.total_seconds()
        await self.scheduler.stop(grace_s=lease_s / 6 if self.leadership.lost else 10.0)

    async def _ingestion_notice(self, text: str, error: bool) -> None:
        await self.post(self.settings.channels.route("notices"), Reply(text, error=error))

    async def handle(
        self,
        text: str,
        user: str = "local",
        channel: str = "general",
        platform: Platform = "terminal",
    ) -> Reply:
        request = ChatRequest(text=text, user=user, channel=channel, platform=platform)
        return await self.dispatch(request)

    async def dispatch(self, request: ChatRequest) -> Reply:
        """One chat request through the router (limits, access, the command); never raises."""
        return await self.router.dispatch(request, self.deps)

    async def post(self, channel: str, reply: Reply, must_deliver: bool = False) -> int:
        """Post to every front; returns how many took it (see ``ChannelHub.post``)."""
        return await self.hub.post(channel, reply, must_deliver=must_deliver)

    async def _job_failed(self, name: str, stats: JobStats) -> None:
        await self.post(
            self.settings.channels.route("notices"),
            Reply(
                f"Job `{name}` failed: {stats.last_error}. I will keep trying on its schedule "
                "and say when it recovers.",
                error=True,
            ),
        )

    async def _job_recovered(self, name: str, stats: JobStats) -> None:
        await self.post(
            self.settings.channels.route("notices"),
            Reply(f"Job `{name}` recovered after {stats.consecutive_failures} failed run(s)."),
        )
