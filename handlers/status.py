"""``status``: the fleet at a glance, against the team's baselines, with firing alerts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from handlers import messages
from handlers.alertbook import Alert
from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import ChatRequest, Context, Part, Reply, Section, Table
from knowledge.findings import Finding, fmt, scan

COLUMNS = ("cpu_usage", "memory_usage", "latency_p95_ms", "error_rate")


async def handle(req: ChatRequest, deps: Deps) -> Reply:
    if deps.telemetry is None:
        return Reply(messages.NO_TELEMETRY, ephemeral=True)
    now = deps.now()
    wanted = req.args.split()
    findings = scan(
        deps.telemetry,
        deps.analysis,
        now,
        window=timedelta(minutes=5),
        history=timedelta(minutes=30),
        services=wanted,
    )
    by_service: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_service[finding.service].append(finding)
    rows = []
    for service in sorted(by_service):
        items = by_service[service]
        worst = {
            m: max((f for f in items if f.metric == m), key=lambda f: f.value, default=None)
            for m in COLUMNS
        }
        breaches = [f for f in items if f.breached]
        state = "ok" if not breaches else f"{len(breaches)} past baseline"
        hosts = len({f.host for f in items})
        rows.append(
            (
                service,
                str(hosts),
                *(fmt(w.value, w.unit) if w else "-" for w in worst.values()),
                state,
            )
        )
    alerts = deps.alerts.active()
    breached = [f for f in findings if f.breached]
    troubled = sorted({f.service for f in breached})
    headline = (
        f"All {len(rows)} services are within their baselines."
        if not breached
        else f"{len(troubled)} of {len(rows)} services past a baseline: {', '.join(troubled)}."
    )
    parts: list[Part] = [Table(columns=("service", "hosts", *COLUMNS, "state"), rows=tuple(rows))]
    if breached:
        parts.append(Section("\n".join(f"- {f.sentence()}" for f in breached[:8]), "Past baseline"))
    if alerts:
        parts.append(
            Section(
                "\n".join(f"- {alert_line(a, deps, now)}" for a in alerts),
                "Firing alerts",
            )
        )
    if deps.ingestion_status is not None:
        lines = deps.ingestion_status()
        if lines:
            parts.append(Section("\n".join(f"- {line}" for line in lines), "Ingestion"))
    parts.append(Context(f"as of {now:%Y-%m-%d %H:%M} UTC, worst host per service, last 5 min"))
    return Reply(headline, parts=tuple(parts))


def alert_line(alert: Alert, deps: Deps, now: datetime) -> str:
    """``a-3 [critical] payments/payments-2: memory_leak (acked by ana): SENTENCE``."""
    marks = [
        f"acked by {alert.acked_by}" if alert.acked_by else "",
        "muted" if deps.alerts.is_muted(alert.key, now) else "",
        f"flapping {alert.flaps}x" if alert.flaps else "",
    ]
    shown = ", ".join(m for m in marks if m)
    text = f"{alert.id} [{alert.severity}] {alert.label}" + (f" ({shown})" if shown else "")
    return f"{text}: {alert.sentence}" if alert.sentence else text


COMMAND = Command(
    name="status",
    summary="the fleet at a glance: key metrics per service against the baselines, firing alerts",
    usage="status [SERVICE ...]",
    handler=handle,
    examples=("status", "status payments"),
)
