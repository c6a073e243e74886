"""One APScheduler scheduler per process, with its job store in SQL: SQLite under
``VIGIL_DATA_DIR`` by default, or the database replicas share (``VIGIL_SCHEDULER_DB``), where
only the replica holding the leader lease (``bot.leader``) runs the scheduler.

Jobs come from configuration (``schedules:`` in ai-config.yml): each names a job kind that the
app provides and an ``every`` or ``cron`` trigger. The job store persists next run times, so a
restart keeps the schedule; runs missed while the process was down are coalesced into one.
A failing or hanging job is logged with its context and counted; it never stops the process.

APScheduler persists a job as a reference to a module-level function plus its arguments, so the
stored callable is ``_run(instance, name)``, which finds the live scheduler by instance name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import JobSchedule
from bot.crontab import apscheduler_cron
from knowledge.errors import ConfigError

log = logging.getLogger(__name__)

JobFunc = Callable[[Mapping[str, Any]], Awaitable[None]]
FailureHook = Callable[[str, "JobStats"], Awaitable[None]]

_INSTANCES: dict[str, VigilScheduler] = {}


async def _run(instance: str, name: str) -> None:
    """The callable APScheduler stores; dispatches to the live scheduler of ``instance``."""
    scheduler = _INSTANCES.get(instance)
    if scheduler is None:
        log.warning("job %s fired but scheduler %r is not running here; skipped", name, instance)
        return
    await scheduler.run_job(name)


@dataclass
class JobStats:
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run: datetime | None = None
    last_duration_s: float = 0.0
    last_error: str | None = None


def build_trigger(schedule: JobSchedule) -> BaseTrigger:
    if schedule.cron is not None:
        # crontab's weekdays (1-5 = Monday to Friday), not APScheduler's (0 = Monday)
        return CronTrigger.from_crontab(apscheduler_cron(schedule.cron), timezone=schedule.timezone)
    assert schedule.every is not None
    return IntervalTrigger(seconds=schedule.every.total_seconds(), timezone=schedule.timezone)


class VigilScheduler:
    """Wraps an ``AsyncIOScheduler``; start it from inside a running event loop."""

    def __init__(
        self,
        store: Path | str,
        schedules: Mapping[str, JobSchedule],
        jobs: Mapping[str, JobFunc],
        instance: str = "main",
        config_source: str = "data_config/ai-config.yml",
        on_failure: FailureHook | None = None,
        on_recovery: FailureHook | None = None,
        may_run: Callable[[], bool] | None = None,
    ) -> None:
        """``store``: a SQLAlchemy URL, or the path of a SQLite file. ``may_run``: checked
        before each job runs (the leader lease is still ours); a job it refuses is skipped."""
        for name, schedule in schedules.items():
            kind = schedule.job or name
            if kind not in jobs:
                raise ConfigError(
                    f"schedules.{name}" + (".job" if schedule.job else ""),
                    config_source,
                    f"unknown job {kind!r}; expected one of: {', '.join(sorted(jobs))}",
                )
        self.store_url = store if isinstance(store, str) else f"sqlite:///{store}"
        self.store_path = store if isinstance(store, Path) else None
        self.may_run = may_run
        self.schedules = {n: s for n, s in schedules.items() if s.enabled}
        self.jobs = jobs
        self.instance = instance
        self.on_failure = on_failure
        self.on_recovery = on_recovery
        self.stats: dict[str, JobStats] = {name: JobStats() for name in self.schedules}
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        """Open the job store, reconcile it with the configuration, and start firing jobs."""
        if self.instance in _INSTANCES:
            raise RuntimeError(f"a scheduler named {self.instance!r} is already running")
        if self.store_path is not None:
            self.store_path.parent.mkdir(parents=True, exist_ok=True)
        scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=self.store_url)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        _INSTANCES[self.instance] = self
        self._scheduler = scheduler
        scheduler.start(paused=True)
        self._reconcile(scheduler)
        scheduler.resume()
        log.info(
            "scheduler started with %d job(s): %s",
            len(self.schedules),
            ", ".join(f"{n} ({build_trigger(s)})" for n, s in self.schedules.items()) or "-",
        )

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop firing jobs, let running ones finish (up to ``grace_s``), then shut down."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.pause()
        running = {t for t in self._in_flight if not t.done()}
        if running:
            _, late = await asyncio.wait(running, timeout=grace_s)
            if late:
                log.warning(
                    "%d job(s) still running after %.0fs; cancelling them", len(late), grace_s
                )
        self.shutdown()

    def shutdown(self) -> None:
        """Stop at once; a job still running is cancelled."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        if _INSTANCES.get(self.instance) is self:
            del _INSTANCES[self.instance]

    def next_run_times(self) -> dict[str, datetime | None]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    async def run_job(self, name: str) -> bool:
        """Run one job now, within its timeout. Returns whether it succeeded; never raises."""
        schedule = self.schedules.get(name)
        if schedule is None:
            log.warning("job %s is no longer configured; skipped", name)
            return False
        if self.may_run is not None and not self.may_run():
            log.warning("job %s skipped: this replica no longer holds the scheduler lease", name)
            return False
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        stats = self.stats.setdefault(name, JobStats())
        stats.runs += 1
        stats.last_run = datetime.now(UTC)
        began = time.perf_counter()
        timeout = schedule.timeout.total_seconds()
        try:
            await asyncio.wait_for(self.jobs[schedule.job or name](schedule.args), timeout)
        except asyncio.CancelledError:  # stop() gave up waiting for it: one line, no traceback
            stats.last_duration_s = time.perf_counter() - began
            log.warning("job %s cancelled after %.1fs (shutting down)", name, stats.last_duration_s)
            return False
        except Exception as exc:  # a job must never take the process down
            stats.last_duration_s = time.perf_counter() - began
            stats.failures += 1
            stats.consecutive_failures += 1
            reason = (
                f"timed out after {timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            stats.last_error = reason
            log.error(
                "job %s failed after %.2fs (run %d, %d failure(s) in a row, trigger %s): %s",
                name,
                stats.last_duration_s,
                stats.runs,
                stats.consecutive_failures,
                build_trigger(schedule),
                reason,
                exc_info=not isinstance(exc, TimeoutError),
            )
            if stats.consecutive_failures == 1 and self.on_failure is not None:
                await self._call_hook(self.on_failure, name, stats)
            return False
        stats.last_duration_s = time.perf_counter() - began
        if stats.consecutive_failures and self.on_recovery is not None:
            await self._call_hook(self.on_recovery, name, stats)
        stats.consecutive_failures = 0
        return True

    async def _call_hook(self, hook: FailureHook, name: str, stats: JobStats) -> None:
        try:
            await hook(name, stats)
        except Exception:
            log.exception("failure notice for job %s could not be sent", name)

    def _reconcile(self, scheduler: AsyncIOScheduler) -> None:
        stored = {job.id: job for job in scheduler.get_jobs()}
        for job_id, job in stored.items():
            if job_id not in self.schedules:
                log.info("job %s is no longer configured; removed from the job store", job_id)
                job.remove()
        for name, schedule in self.schedules.items():
            trigger = build_trigger(schedule)
            existing = stored.get(name)
            if (
                existing is not None
                and str(existing.trigger) == str(trigger)
                and str(getattr(existing.trigger, "timezone", "")) == str(trigger.timezone)
                and tuple(existing.args) == (self.instance, name)
            ):
                continue  # unchanged: keep its stored next run time (and coalesce missed runs)
            scheduler.add_job(
                _run,
                trigger,
                args=[self.instance, name],
                id=name,
                name=name,
                replace_existing=True,
            )
