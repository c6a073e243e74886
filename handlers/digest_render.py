"""The sections of a digest as text and parts: alerts grouped by service, the worst anomalies,
error patterns, the baselines table, the trend chart and what needs attention, with times in
the digest's time zone."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from handlers.alertbook import SEVERITY_RANK, Alert
from handlers.charts import TrendPanel, digest_chart
from handlers.digest_data import SeriesStats, ServiceKey, downsample, lasted
from handlers.digest_logs import PatternSignal
from handlers.types import Chart, Fields, Table
from knowledge.findings import SIGMA_SHOWN_MAX, fmt
from knowledge.timeparse import format_duration

log = logging.getLogger(__name__)

MAX_ALERT_LINES = 15
MAX_ANOMALIES = 5
MAX_PATTERNS = 5
MAX_ATTENTION = 6
LABELS = {"latency_p95_ms": "p95 latency", "error_rate": "error rate"}


@dataclass(frozen=True)
class Clock:
    """Times of a period ``[start, end]`` in the digest's zone: ``14:05`` in a short period,
    ``Mon 14:05`` in one of more than ``LONG``, and with the date (``Fri 20 Nov 14:05``) outside
    the period's local days or in a period of more than ``WEEK``."""

    zone: tzinfo
    start: datetime
    end: datetime

    LONG = timedelta(hours=20)
    WEEK = timedelta(days=6)

    @property
    def long(self) -> bool:
        return self.end - self.start > self.LONG

    def at(self, when: datetime) -> str:
        local = when.astimezone(self.zone)
        first = self.start.astimezone(self.zone).date()
        last = self.end.astimezone(self.zone).date()
        if not first <= local.date() <= last or self.end - self.start > self.WEEK:
            return local.strftime("%a %d %b %H:%M")
        return local.strftime("%a %H:%M" if self.long else "%H:%M")

    def span(self) -> str:
        a, b = self.start.astimezone(self.zone), self.end.astimezone(self.zone)
        shape = "%a %d %b %H:%M" if self.end - self.start > self.WEEK else "%a %H:%M"
        return f"{a.strftime(shape)} – {b.strftime(shape)} {b:%Z}"


# ----------------------------------------------------------------------------- alerts


def ending(alert: Alert, end: datetime) -> str:
    """How an alert ended: ``resolved by the model after 42m``, ``resolved by ana after 30m``,
    ``still open for 1h 5m (acknowledged by bob)``."""
    took = format_duration(lasted(alert, end))
    if alert.resolved_at is None:
        text = f"still open for {took}"
        return text + (f" (acknowledged by {alert.acked_by})" if alert.acked_by else "")
    who = alert.resolved_by or "the model"
    text = f"resolved by {who} after {took}"
    return text + (f", acknowledged by {alert.acked_by}" if alert.acked_by else "")


def _urgency(alert: Alert) -> tuple[bool, int, datetime]:
    """Open before closed, critical before the rest, then oldest first."""
    return alert.resolved_at is not None, -SEVERITY_RANK.get(alert.severity, 1), alert.started


def alert_lines(
    alerts: list[Alert], clock: Clock, end: datetime, muted: frozenset[str] = frozenset()
) -> str:
    """Alerts grouped by service, the groups with open and critical alerts first; at most
    ``MAX_ALERT_LINES`` alerts (no group header past that); muted ones tagged."""
    by_service: dict[str, list[Alert]] = defaultdict(list)
    for alert in sorted(alerts, key=_urgency):
        by_service[alert.service].append(alert)
    lines: list[str] = []
    shown = 0

    def rank(service: str) -> tuple[tuple[bool, int], int, str]:
        first = _urgency(by_service[service][0])
        return (first[0], first[1]), -len(by_service[service]), service

    for service in sorted(by_service, key=rank):
        if shown >= MAX_ALERT_LINES:
            break
        items = by_service[service]
        lines.append(f"{service} ({len(items)}):")
        for a in items:
            if shown >= MAX_ALERT_LINES:
                break
            extra = f", flapped {a.flaps}x" if a.flaps else ""
            tag = " (muted)" if a.id in muted else ""
            lines.append(
                f"- {a.id} [{a.severity}]{tag} {a.anomaly_type} on {a.host} from "
                f"{clock.at(a.started)}, {ending(a, end)} (peak score {a.peak:.2f}{extra})"
            )
            shown += 1
    if len(alerts) > shown:
        lines.append(f"… and {len(alerts) - shown} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- anomalies


def anomalies(stats: list[SeriesStats]) -> list[list[SeriesStats]]:
    """Notable series grouped per host, worst host first (longest past a baseline, then
    furthest from normal), each group worst first."""
    groups: dict[tuple[str, str], list[SeriesStats]] = defaultdict(list)
    for item in stats:
        if item.notable:
            groups[(item.service, item.host)].append(item)

    def rank(s: SeriesStats) -> tuple[timedelta, float]:
        return s.breach, min(abs(s.sigma), 1e6)

    ordered = [sorted(items, key=rank, reverse=True) for items in groups.values()]
    ordered.sort(key=lambda items: rank(items[0]), reverse=True)
    return ordered


def _sigma(value: float) -> str:
    if abs(value) >= SIGMA_SHOWN_MAX:
        return f"{'over' if value > 0 else 'under'} {SIGMA_SHOWN_MAX} sigma"
    return f"{value:+.1f} sigma"


def anomaly_lines(groups: list[list[SeriesStats]], alerts: list[Alert], clock: Clock) -> str:
    lines = []
    for items in groups[:MAX_ANOMALIES]:
        s = items[0]
        limit = s.baseline.max if s.baseline is not None else None
        text = (
            f"{s.service}/{s.host}: {s.metric} peaked at {fmt(s.peak, s.unit)} at "
            f"{clock.at(s.peak_at)} (normal {fmt(s.normal, s.unit)}"
            + (f", limit {fmt(limit, s.unit)}" if limit is not None else "")
            + ")"
        )
        text += (
            f", past the limit for {format_duration(s.breach)}"
            if s.breach
            else f", {_sigma(s.sigma)}"
        )
        others = [o.metric for o in items[1:4]]
        if others:
            text += f"; also {', '.join(others)}"
        alert = next(
            (
                a
                for a in alerts
                if (a.service, a.host) == (s.service, s.host)
                and a.started <= s.peak_at <= (a.resolved_at or s.peak_at)
            ),
            None,
        )
        if alert is not None:
            text += f" (alert {alert.id})"
        lines.append(f"- {text}")
    if len(groups) > MAX_ANOMALIES:
        lines.append(f"… and {len(groups) - MAX_ANOMALIES} more hosts")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- logs


def pattern_lines(patterns: list[PatternSignal], clock: Clock) -> str:
    lines = []
    for p in patterns[:MAX_PATTERNS]:
        template = p.template if len(p.template) <= 120 else p.template[:119] + "…"
        where = f" on {p.host}" if p.host else ""
        if p.kind == "new":
            head = f"New {p.level} pattern in {p.service}: {p.count}x from {clock.at(p.first)}"
        else:
            head = (
                f"{p.level} spike in {p.service}: {p.count}x "
                f"(usually about {p.usual_per_hour or 0:.0f}/h)"
            )
        lines.append(f"- {head}{where}: '{template}'")
    if len(patterns) > MAX_PATTERNS:
        lines.append(f"… and {len(patterns) - MAX_PATTERNS} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- baselines


def _limit(key: ServiceKey) -> str:
    if key.baseline is None:
        return "no baseline"
    bound = key.baseline.max if key.baseline.max is not None else key.baseline.min
    return fmt(bound or 0.0, key.unit)


def _bound(key: ServiceKey) -> str:
    """The baseline as a bound: ``≤ 200 ms``, ``≥ 10 /s``, or ``no baseline``."""
    if key.baseline is None or (key.baseline.max is None and key.baseline.min is None):
        return "no baseline"
    return f"{'≤' if key.baseline.max is not None else '≥'} {_limit(key)}"


def key_fields(keys: list[ServiceKey]) -> Fields | None:
    """Per service, one line of key numbers: value now, peak, against the limit."""
    by_service: dict[str, list[ServiceKey]] = defaultdict(list)
    for key in keys:
        by_service[key.service].append(key)
    items = []
    for service, found in sorted(by_service.items()):
        bits = [
            f"{LABELS.get(k.metric, k.metric)} {fmt(k.value, k.unit)} "
            f"(peak {fmt(k.peak, k.unit)}, limit {_limit(k)})"
            for k in sorted(found, key=lambda k: k.metric, reverse=True)
        ]
        items.append((service, " · ".join(bits)))
    return Fields(tuple(items)) if items else None


def _state(key: ServiceKey, clock: Clock) -> str:
    label = LABELS.get(key.metric, key.metric)
    if key.breaching_since is not None:
        return f"{label} past {_limit(key)} since {clock.at(key.breaching_since)}"
    if key.breach:
        return f"{label} past {_limit(key)} for {format_duration(key.breach)}"
    return ""


def baseline_table(keys: list[ServiceKey], clock: Clock) -> Table:
    by_service: dict[str, dict[str, ServiceKey]] = defaultdict(dict)
    for key in keys:
        by_service[key.service][key.metric] = key
    rows = []
    for service, found in sorted(by_service.items()):
        cells: list[str] = [service]
        states = []
        for metric in ("latency_p95_ms", "error_rate"):
            one = found.get(metric)
            if one is None:
                cells.append("-")
                continue
            cells.append(f"{fmt(one.value, one.unit)} / {fmt(one.peak, one.unit)} ({_bound(one)})")
            if _state(one, clock):
                states.append(_state(one, clock))
        cells.append("; ".join(states) or "ok")
        rows.append(tuple(cells))
    return Table(
        ("service", "p95 latency now / peak", "error rate now / peak", "baselines"), tuple(rows)
    )


def chart(channel: str, keys: list[ServiceKey], clock: Clock) -> Chart | None:
    panels = []
    for metric in ("latency_p95_ms", "error_rate"):
        found = [k for k in keys if k.metric == metric]
        if not found:
            continue
        limit = found[0].baseline.max if found[0].baseline is not None else None
        unit = f" ({found[0].unit})" if found[0].unit else ""
        lines = {k.service: downsample(k.times, k.worst) for k in found}
        panels.append(TrendPanel(f"{LABELS[metric]}{unit}, worst host", lines, limit))
    try:
        png = digest_chart(
            panels, f"#{channel}: p95 latency and error rate per service", clock.zone
        )
    except Exception as exc:  # the chart is a nicety
        log.warning("digest: chart failed: %s: %s", type(exc).__name__, exc)
        return None
    return Chart(png, f"#{channel} trends", alt="p95 latency and error rate per service")


# ----------------------------------------------------------------------------- attention


def attention(
    alerts: list[Alert],
    keys: list[ServiceKey],
    new: list[PatternSignal],
    clock: Clock,
    end: datetime,
    muted: frozenset[str] = frozenset(),
) -> list[str]:
    """Open alerts nobody acknowledged (muted ones left out), key numbers past their baseline
    at the end, and new error patterns."""
    lines = [
        f"{a.id} [{a.severity}] {a.label}: open for {format_duration(lasted(a, end))}, "
        "not acknowledged"
        for a in sorted(alerts, key=_urgency)
        if a.resolved_at is None and a.acked_by is None and a.id not in muted
    ]
    lines += [
        f"{k.service}: {k.metric} at {fmt(k.value, k.unit)}, past {_limit(k)} since "
        f"{clock.at(k.breaching_since)}"
        for k in keys
        if k.breaching_since is not None
    ]
    lines += [
        f"New {p.level} pattern in {p.service} ({p.count}x): '{p.template[:100]}'" for p in new
    ]
    if len(lines) > MAX_ATTENTION:
        lines = [*lines[:MAX_ATTENTION], f"… and {len(lines) - MAX_ATTENTION} more"]
    return lines
