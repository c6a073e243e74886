"""The composition root: builds the dependencies once and wires handlers, channels and jobs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from bot.channels import ChannelHub
from bot.config import JobSchedule, Settings
from bot.jobs import job_table
from bot.scheduler import JobStats, VigilScheduler
from handlers.deps import Deps
from handlers.registry import Registry, default_registry
from handlers.router import Router
from handlers.types import ChatRequest, Platform, Reply
from knowledge.redaction import Redactor
from knowledge.sources.base import TelemetryReader

log = logging.getLogger(__name__)

SCHEDULER_STORE = "scheduler.sqlite"


class VigilApp:
    def __init__(
        self,
        settings: Settings,
        telemetry: TelemetryReader | None = None,
        schedules: Mapping[str, JobSchedule] | None = None,
        registry: Registry | None = None,
        instance: str = "main",
    ) -> None:
        self.settings = settings
        privacy = settings.ai.privacy
        self.deps = Deps(
            analysis=settings.ai.analysis,
            telemetry=telemetry,
            redactor=Redactor(
                redact_emails=privacy.redact_emails,
                redact_ips=privacy.redact_ips,
                extra_patterns=privacy.extra_patterns,
                known_secrets=settings.env.secret_values(),
            ),
        )
        self.registry = registry or default_registry()
        self.router = Router(self.registry)
        self.hub = ChannelHub()
        self.scheduler = VigilScheduler(
            store_path=Path(settings.data_dir) / SCHEDULER_STORE,
            schedules=settings.ai.schedules if schedules is None else schedules,
            jobs=job_table(self),
            instance=instance,
            config_source=str(settings.config_dir / "ai-config.yml"),
            on_failure=self._job_failed,
            on_recovery=self._job_recovered,
        )

    async def start(self) -> None:
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()

    async def handle(
        self,
        text: str,
        user: str = "local",
        channel: str = "general",
        platform: Platform = "terminal",
    ) -> Reply:
        request = ChatRequest(text=text, user=user, channel=channel, platform=platform)
        return await self.router.dispatch(request, self.deps)

    async def post(self, channel: str, reply: Reply) -> None:
        await self.hub.post(channel, reply)

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
