"""``digest``: what happened in a period, for a busy on-call engineer.

A digest covers ``[start, end]``: the alerts of the period grouped by service (type, host, start,
how long, how it ended, peak score), the worst anomalies (past a baseline or far from normal),
error-pattern signals (new log templates, spikes), p95 latency and error rate per service
against the team's baselines, a trend chart, and what needs attention now. A quiet period gets
one "All quiet" line with the key numbers. Times are shown in the digest's time zone.

The scheduler calls ``build`` for each configured channel (``bot.digests``); in chat,
``digest [CHANNEL] [PERIOD]`` renders one now. The numbers come from ``handlers.digest_data``
and ``handlers.digest_logs``, the sections' text from ``handlers.digest_render``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers import digest_render as render
from handlers.alertbook import Alert
from handlers.deps import Deps
from handlers.digest_data import (
    MetricsView,
    SeriesStats,
    ServiceKey,
    error_text,
    period_alerts,
    read_metrics,
)
from handlers.digest_logs import PatternSignal, signals_for
from handlers.digest_options import (
    DEFAULT_PERIOD,
    MAX_PERIOD,
    MIN_PERIOD,
    SECTIONS,
    DigestOptions,
    DigestSettings,
    Include,
)
from handlers.registry import Command
from handlers.types import ChatRequest, Context, Part, Reply, Section
from knowledge.timeparse import format_duration, parse_duration

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PERIOD",
    "MAX_PERIOD",
    "MIN_PERIOD",
    "SECTIONS",
    "DigestOptions",
    "DigestSettings",
    "Include",
    "build",
    "handle",
]

USAGE = (
    "Usage: `digest [CHANNEL] [PERIOD]`, for example `digest ops 6h` (default: this channel, "
    "the last 24h)."
)
_PERIOD = re.compile(r"^\d+(?:\.\d+)?(?:m|h|d|w)(?:\d+(?:m|h))?$", re.I)


@dataclass
class DigestFacts:
    """Everything a digest says, gathered; ``None``: not read (no source, not included)."""

    alerts: list[Alert]
    metrics: MetricsView | None
    patterns: list[PatternSignal] | None
    patterns_from: str = ""
    metrics_error: str = ""  # ``ErrorType: message`` when the metrics could not be read
    muted: frozenset[str] = frozenset()  # ids of the alerts muted at the end
    history_from: datetime | None = None  # the alert history is complete only from then


# ----------------------------------------------------------------------------- entry points


async def build(
    channel: str,
    settings: DigestSettings | None,
    deps: Deps,
    start: datetime,
    end: datetime,
) -> Reply:
    """The digest of ``channel`` for ``[start, end]`` (reads run in a worker thread)."""
    return await asyncio.to_thread(build_sync, channel, settings, deps, start, end)


def build_sync(
    channel: str,
    settings: DigestSettings | None,
    deps: Deps,
    start: datetime,
    end: datetime,
) -> Reply:
    settings = settings or DigestOptions()
    facts = gather(settings, deps, start, end)
    return compose(channel, settings, facts, start, end)


async def handle(req: ChatRequest, deps: Deps) -> Reply:
    """``digest [CHANNEL] [PERIOD]``: this channel's digest (or CHANNEL's) for the last PERIOD."""
    try:
        channel, period = parse_args(req.args, req.channel)
    except ValueError as exc:
        return Reply(str(exc), ephemeral=True, error=True)
    end = deps.now()
    settings = deps.digests.get(channel)
    return await build(channel, settings, deps, end - (period or DEFAULT_PERIOD), end)


def parse_args(args: str, default_channel: str) -> tuple[str, timedelta | None]:
    """``[CHANNEL] [PERIOD]`` in either order; raises ``ValueError`` with the usage."""
    channel: str | None = None
    period: timedelta | None = None
    for word in args.split():
        if _PERIOD.match(word):
            if period is not None:
                raise ValueError(f"Two periods given. {USAGE}")
            period = parse_duration(word.lower())
        elif re.fullmatch(r"#?[\w.-]{1,80}", word) and channel is None:
            channel = word.lstrip("#")
        else:
            raise ValueError(f"I can't read {word[:40]!r} as a channel or a period. {USAGE}")
    if period is not None and not MIN_PERIOD <= period <= MAX_PERIOD:
        raise ValueError(
            f"A digest covers {format_duration(MIN_PERIOD)} to {format_duration(MAX_PERIOD)}, "
            f"not {format_duration(period)}. {USAGE}"
        )
    return channel or default_channel, period


# ----------------------------------------------------------------------------- gathering


def gather(settings: DigestSettings, deps: Deps, start: datetime, end: datetime) -> DigestFacts:
    """Read what the digest needs; a source that fails leaves its sections out."""
    include = set(settings.include)
    services = tuple(settings.services)
    alerts = [
        a for a in period_alerts(deps.alerts, start, end) if not services or a.service in services
    ]
    metrics: MetricsView | None = None
    error = ""
    if deps.telemetry is not None:
        try:
            metrics = read_metrics(deps.telemetry, deps.analysis, start, end, services)
        except Exception as exc:
            log.warning("digest: metrics unavailable: %s: %s", type(exc).__name__, exc)
            error = error_text(exc)
        if metrics is not None and metrics.unreadable:
            error = metrics.error
            metrics = None
    muted = frozenset(a.id for a in alerts if deps.alerts.is_muted(a.key, end))
    since = deps.alerts.history_since()
    facts = DigestFacts(
        alerts,
        metrics,
        None,
        metrics_error=deps.redactor.redact(error),
        muted=muted,
        history_from=since if since is not None and since > start else None,
    )
    if include & {"logs", "attention"}:
        facts.patterns, facts.patterns_from = signals_for(deps, start, end, services)
    return facts


# ----------------------------------------------------------------------------- composing


def compose(
    channel: str, settings: DigestSettings, facts: DigestFacts, start: datetime, end: datetime
) -> Reply:
    """The digest as a reply: a headline, then the included sections. "All quiet" only when
    every included section has nothing to say, no key number went past its baseline, the metrics
    could be read, and some section besides the baselines table and the chart was asked for."""
    include = set(settings.include)
    clock = render.Clock(ZoneInfo(settings.timezone), start, end)
    stats = facts.metrics.stats if facts.metrics else []
    keys = facts.metrics.keys if facts.metrics else []
    breached = [k for k in keys if k.breach]
    anomalies = render.anomalies(stats) if "anomalies" in include else []
    patterns = facts.patterns or []
    new = [p for p in patterns if p.kind == "new"]
    attention = (
        render.attention(facts.alerts, keys, new, clock, end, facts.muted)
        if "attention" in include
        else []
    )
    alerts = facts.alerts if "alerts" in include else []
    shown_patterns = patterns if "logs" in include else []
    span = clock.span()
    footer = _footer(facts, start, end, clock)
    quiet = not (alerts or anomalies or shown_patterns or attention or breached)
    if quiet and not facts.metrics_error and include - {"baselines", "chart"}:
        parts: list[Part] = []
        numbers = render.key_fields(keys)
        if numbers is not None:
            parts.append(numbers)
        parts.append(footer)
        return Reply(
            f"All quiet in #{channel}, {span}: {_quiet_line(include, facts)}.", parts=tuple(parts)
        )
    parts = []
    if alerts:
        parts.append(Section(render.alert_lines(alerts, clock, end, facts.muted), "Alerts"))
    if anomalies:
        parts.append(Section(render.anomaly_lines(anomalies, facts.alerts, clock), "Top anomalies"))
    if shown_patterns:
        parts.append(Section(render.pattern_lines(shown_patterns, clock), "Error patterns"))
    if "baselines" in include and keys:
        parts.append(render.baseline_table(keys, clock))
    if "chart" in include and keys:
        trend = render.chart(channel, keys, clock)
        if trend is not None:
            parts.append(trend)
    if "attention" in include:
        text = "\n".join(f"- {line}" for line in attention) or "Nothing needs attention."
        parts.append(Section(text, "Needs attention"))
    parts.append(footer)
    summary = _summary(include, alerts, anomalies, shown_patterns, breached, facts)
    return Reply(f"Digest for #{channel}, {span}: {summary}", parts=tuple(parts))


def _summary(
    include: set[str],
    alerts: list[Alert],
    anomalies: list[list[SeriesStats]],
    patterns: list[PatternSignal],
    breached: list[ServiceKey],
    facts: DigestFacts,
) -> str:
    """What the headline says: only about the included sections."""
    phrases = []
    if alerts:
        critical = sum(a.severity == "critical" for a in alerts)
        still = sum(a.resolved_at is None for a in alerts)
        text = _plural(len(alerts), "alert")
        if critical:
            text += f" ({critical} critical)"
        phrases.append(text + (f", {still} still open" if still else ", all resolved"))
    elif "alerts" in include:
        phrases.append("no alerts")
    if facts.metrics_error:
        phrases.append(f"metrics unreadable ({facts.metrics_error})")
    if anomalies:
        phrases.append(_plural(len(anomalies), "host") + " with anomalies")
    if breached:
        services = sorted({k.service for k in breached})
        phrases.append(_plural(len(services), "service") + " past a baseline")
    new = sum(p.kind == "new" for p in patterns)
    if new:
        phrases.append(_plural(new, "new error pattern"))
    if len(patterns) > new:
        phrases.append(_plural(len(patterns) - new, "error spike"))
    if not phrases:
        phrases.append("key numbers within their baselines" if facts.metrics else "nothing to show")
    return "; ".join(phrases) + "."


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _quiet_line(include: set[str], facts: DigestFacts) -> str:
    said = []
    if "alerts" in include or "attention" in include:
        said.append("no alerts")
    if "anomalies" in include and facts.metrics is not None:
        said.append("no anomalies")
    if "logs" in include and facts.patterns is not None:
        said.append("no new error patterns")
    return ", ".join(said) or "nothing to report"


def _footer(facts: DigestFacts, start: datetime, end: datetime, clock: render.Clock) -> Context:
    bits = [
        f"last {format_duration(end - start)} to {end.astimezone(clock.zone):%Y-%m-%d %H:%M %Z}"
    ]
    if facts.metrics_error:
        bits.append(f"metrics unreadable ({facts.metrics_error})")
    elif facts.metrics is None:
        bits.append("no live metrics source")
    if facts.history_from is not None:
        bits.append(f"alert history only from {clock.at(facts.history_from)}")
    if facts.patterns_from:
        bits.append(f"error patterns from {facts.patterns_from}")
    bits.append("`digest CHANNEL PERIOD` for another period")
    return Context(" · ".join(bits))


COMMAND = Command(
    name="digest",
    summary="what happened in a period: alerts, anomalies, error patterns, baselines, trends",
    usage="digest [CHANNEL] [PERIOD]",
    handler=handle,
    examples=("digest", "digest ops 6h", "digest 3d"),
)
