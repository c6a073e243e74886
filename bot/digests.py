"""Scheduled digests: the ``digests:`` section of channels.yml, the cron jobs it makes, the
``digest`` job kind and ``vigil digest --channel NAME --print``.

```yaml
digests:
  digest: {cron: "0 9 * * 1-5", timezone: Europe/London}
  ops: {cron: "0 */6 * * *", include: [alerts, attention]}
```

A digest covers ``period`` when given (the job's ``args.period``, else the config's), else the
time since the cron's previous run: a scheduled run covers from the fire time before its own (a
daily 09:00 cron covers 24 hours; Monday's run of ``0 9 * * 1-5`` covers Friday 09:00 to Monday
09:00, 73 hours when the clocks went back), ``vigil digest`` from the latest fire time (the
default period when that was under ``MIN_PERIOD`` ago). The content is ``handlers.digest``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from bot.crontab import check_crontab, check_timezone, cron_trigger
from handlers.digest_options import DEFAULT_PERIOD, MAX_PERIOD, MIN_PERIOD, SECTIONS, Include
from knowledge.config import StrictModel
from knowledge.timeparse import format_duration, parse_duration

if TYPE_CHECKING:
    from bot.app import VigilApp
    from bot.config import JobSchedule, Settings
    from bot.scheduler import JobFunc
    from handlers.deps import Deps
    from handlers.types import Reply

log = logging.getLogger(__name__)

JOB = "digest"
JOB_TIMEOUT = timedelta(minutes=5)


class DigestConfig(StrictModel):
    """One channel's scheduled digest."""

    cron: str
    """When it is posted: a 5-field crontab such as ``0 9 * * 1-5``, in ``timezone``."""
    timezone: str = "UTC"
    """The cron's time zone, and the one the digest shows times in."""
    period: timedelta | None = None
    """What it covers (``24h``); default: since the cron's previous run."""
    include: tuple[Include, ...] = SECTIONS
    """Sections: alerts, anomalies, logs, baselines, chart, attention (default: all)."""
    services: tuple[str, ...] = ()
    """Only these services (default: all)."""

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        return check_crontab(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("period", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is None:
            return None
        period = parse_duration(value)
        if not MIN_PERIOD <= period <= MAX_PERIOD:
            raise ValueError(
                f"expected a period from {format_duration(MIN_PERIOD)} to "
                f"{format_duration(MAX_PERIOD)}, such as 24h"
            )
        return period

    @field_validator("include")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"expected at least one of {', '.join(SECTIONS)}")
        return tuple(dict.fromkeys(value))


def check_channels(digests: Mapping[str, DigestConfig], channels: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` (one line) when a digest names a channel that is not defined; for
    ``ChannelsConfig``'s validator."""
    for name in digests:
        if name not in channels:
            raise ValueError(
                f"digests.{name} names channel {name!r}, which is not defined under channels "
                f"(defined: {', '.join(sorted(channels)) or 'none'})"
            )


def digest_schedules(digests: Mapping[str, DigestConfig]) -> dict[str, JobSchedule]:
    """``digest:CHANNEL`` -> a cron job of kind ``digest`` for every configured digest."""
    from bot.config import JobSchedule

    return {
        f"{JOB}:{channel}": JobSchedule(
            job=JOB,
            cron=config.cron,
            timezone=config.timezone,
            timeout=JOB_TIMEOUT,
            args={"channel": channel},
        )
        for channel, config in digests.items()
    }


# ----------------------------------------------------------------------------- periods


def last_fire(cron: str, timezone: str, at: datetime) -> datetime | None:
    """The cron's latest fire time at or before ``at`` (within a year), else ``None``."""
    trigger = cron_trigger(cron, timezone)
    for back in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=366)):
        fire = trigger.get_next_fire_time(None, at - back)
        if fire is None or fire > at:
            continue
        while True:
            following = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
            if following is None or following > at:
                return fire.astimezone(UTC)
            fire = following
    return None


def period_of(config: DigestConfig | None, at: datetime, *, scheduled: bool = False) -> timedelta:
    """What a digest run at ``at`` (wall clock) covers: the config's period, else since the
    cron's fire time before the latest (``scheduled``: the latest is this run) or since the
    latest (by hand; ``DEFAULT_PERIOD`` when that is under ``MIN_PERIOD`` ago), at most
    ``MAX_PERIOD``."""
    if config is None:
        return DEFAULT_PERIOD
    if config.period is not None:
        return config.period
    latest = last_fire(config.cron, config.timezone, at)
    if latest is None:
        return DEFAULT_PERIOD
    since: datetime | None = latest
    if scheduled:
        since = last_fire(config.cron, config.timezone, latest - timedelta(seconds=1))
    if since is None:
        return DEFAULT_PERIOD
    span = at - since
    if span < MIN_PERIOD:
        span = MIN_PERIOD if scheduled else DEFAULT_PERIOD
    return min(span, MAX_PERIOD)


def job_period(args: Mapping[str, Any]) -> timedelta | None:
    """The job's ``args.period`` (a duration from ``MIN_PERIOD`` to ``MAX_PERIOD``); ``None``
    when not given, or unreadable (logged)."""
    value = args.get("period")
    if value is None:
        return None
    try:
        period = parse_duration(value)
    except ValueError as exc:
        log.warning("digest job: args.period %r: %s; using the channel's period", value, exc)
        return None
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        log.warning(
            "digest job: args.period %r is outside %s to %s; using the channel's period",
            value,
            format_duration(MIN_PERIOD),
            format_duration(MAX_PERIOD),
        )
        return None
    return period


# ----------------------------------------------------------------------------- job and CLI


async def run_digest(
    deps: Deps,
    channel: str,
    config: DigestConfig | None,
    period: timedelta | None = None,
    wall: datetime | None = None,
    *,
    scheduled: bool = False,
) -> Reply:
    """The digest of ``channel`` now: ``period`` or the config's (``period_of``), ending at the
    data's now."""
    from handlers.digest import build

    end = deps.now()
    span = period or period_of(config, wall or datetime.now(UTC), scheduled=scheduled)
    return await build(channel, config, deps, end - span, end)


def digest_jobs(app: VigilApp) -> dict[str, JobFunc]:
    """The ``digest`` job kind for ``bot.jobs.job_table``: renders ``args.channel``'s digest
    (default: the ``digest`` route) for ``args.period`` (default: the channel's) and posts it
    there."""

    async def digest_job(args: Mapping[str, Any]) -> None:
        channel = str(args.get("channel") or app.settings.channels.route("digest"))
        config = app.settings.channels.digests.get(channel)
        reply = await run_digest(app.deps, channel, config, job_period(args), scheduled=True)
        await app.post(channel, reply)

    return {JOB: digest_job}


def cli_deps(settings: Settings) -> Deps:
    """What ``vigil digest`` reads: the persisted alert book, the Prometheus source when
    configured, and the knowledge store when there is one (nothing is written)."""
    from bot.app import ALERTS_FILE, build_configured_sources
    from bot.knowledge import build_answerer, make_redactor, open_store, store_present
    from handlers.alertbook import AlertBook
    from handlers.deps import Deps
    from knowledge.errors import StoreError

    redactor = make_redactor(settings)
    sources = build_configured_sources(settings, redactor.redact)
    telemetry: Any = next((s for s in sources if s.kind == "prometheus"), None)
    store = None
    if store_present(settings):
        try:
            store = open_store(settings)
        except StoreError as exc:
            log.warning("digest: the knowledge store is unreadable (%s); logs from sources", exc)
    return Deps(
        analysis=settings.ai.analysis,
        telemetry=telemetry,
        redactor=redactor,
        alerts=AlertBook(settings.ai.alerts, Path(settings.data_dir) / ALERTS_FILE),
        answerer=build_answerer(settings, redactor, store),
    )


def digest_command(channel: str, period: str | None, print_it: bool) -> None:
    """The body of ``vigil digest --channel NAME [--period 24h] --print``: bad input exits 2
    with one line."""
    import asyncio

    import typer

    from bot.cli_support import load_settings_or_exit, usage_error
    from bot.render.terminal import render
    from knowledge.errors import ConfigError

    settings = load_settings_or_exit()
    name = channel.lstrip("#")
    if name not in settings.channels.channels:
        defined = ", ".join(sorted(settings.channels.channels)) or "none"
        usage_error(f"--channel {channel}: not a channel in channels.yml (channels: {defined})")
    span = None
    if period is not None:
        try:
            span = parse_duration(period)
        except ValueError as exc:
            usage_error(f"--period {period}: {exc}")
        if not MIN_PERIOD <= span <= MAX_PERIOD:
            usage_error(
                f"--period {period}: expected {format_duration(MIN_PERIOD)} to "
                f"{format_duration(MAX_PERIOD)}"
            )
    if not print_it:
        usage_error("add --print to render the digest here (the scheduler posts digests)")
    try:
        deps = cli_deps(settings)
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    config = settings.channels.digests.get(name)
    reply = asyncio.run(run_digest(deps, name, config, span))
    typer.echo(render(reply))
