"""The alerts job: find series past their baseline, dedupe them into alerts, and say what changed.

Called by the scheduler with a synthetic request, like any other handler. Returns ``None`` when
nothing fired, escalated or resolved, so that a quiet fleet produces no messages.
"""

from __future__ import annotations

from datetime import timedelta

from handlers.alertbook import Alert
from handlers.deps import Deps
from handlers.types import ChatRequest, Context, Part, Reply, Section
from knowledge.findings import fmt, likely_cause, scan
from knowledge.timeparse import format_duration

WINDOW = timedelta(minutes=5)
HISTORY = timedelta(hours=1)


async def check(req: ChatRequest, deps: Deps) -> Reply | None:
    if deps.telemetry is None:
        return None
    now = deps.now()
    findings = scan(deps.telemetry, deps.analysis, now, window=WINDOW, history=HISTORY)
    events = deps.alerts.update(findings, now)
    if not events:
        return None
    lines: list[str] = []
    for alert in events.fired:
        lines.append(f"FIRING {alert.id} [{alert.severity}] {alert.latest.sentence()}")
    for alert in events.escalated:
        lines.append(f"ESCALATED {alert.id} [critical] {alert.latest.sentence()}")
    for alert in events.resolved:
        lines.append(
            f"RESOLVED {alert.id} {alert.key[2]} on {alert.key[1]} after "
            f"{format_duration(alert.duration)} (peak {fmt(alert.peak, alert.latest.unit)})"
        )
    headline = _headline(events.fired + events.escalated, events.resolved)
    parts: list[Part] = [Section("\n".join(lines))]
    cause = _cause(events.fired + events.escalated)
    if cause:
        parts.append(Section(cause, "Likely cause"))
    parts.append(Context(f"at {now:%Y-%m-%d %H:%M} UTC; {len(deps.alerts.active())} firing"))
    return Reply(headline, parts=tuple(parts))


def _headline(opened: list[Alert], resolved: list[Alert]) -> str:
    if opened:
        services = sorted({a.key[0] for a in opened})
        worst = max(opened, key=lambda a: (a.severity == "critical", abs(a.latest.deviation)))
        more = f" (+{len(opened) - 1} more)" if len(opened) > 1 else ""
        return f"[{worst.severity}] {', '.join(services)}: {worst.latest.sentence()}{more}"
    return "Resolved: " + "; ".join(f"{a.key[2]} on {a.key[1]}" for a in resolved)


def _cause(alerts: list[Alert]) -> str | None:
    by_host: dict[str, set[str]] = {}
    for alert in alerts:
        by_host.setdefault(alert.key[1], set()).add(alert.key[2])
    causes = [f"{host}: {c}" for host, m in by_host.items() if (c := likely_cause(m))]
    return "\n".join(causes) or None
