"""``explain`` and ``anomalies``: why the model flags what it flags.

``explain a-3`` (the "Explain more" button) gives an alert's whole case: the model's sentence
and likely cause, its top metrics against normal, the chart, and what the knowledge store adds
(runbooks, similar windows, log patterns) through the answerer. ``explain latency`` (a metric,
optionally with services or hosts) compares that metric on every host with its normal and the
team's limit, with a chart. ``anomalies`` lists what the anomaly model sees right now, alerting
or not (muted, acknowledged, below the alerting threshold's persistence).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from datetime import datetime, timedelta

from handlers import messages
from handlers.alertbook import Alert
from handlers.alerts import top_metrics
from handlers.ask import live_evidence
from handlers.charts import alert_chart, metric_chart
from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import Chart, ChatRequest, Context, Part, Reply, Section, Table
from knowledge.findings import Finding, fmt, likely_cause, scan
from knowledge.timeparse import format_duration

log = logging.getLogger(__name__)

EXPLAIN_USAGE = (
    "Usage: `explain ALERT_ID` (e.g. `explain a-3`) or `explain METRIC [SERVICE|HOST ...]` "
    "(e.g. `explain latency checkout`)."
)
_ALERT_ID = re.compile(r"^a-\d+$", re.I)
METRIC_WINDOW = timedelta(minutes=10)
METRIC_HISTORY = timedelta(hours=1)
CHART_HOSTS = 5


def _error(text: str) -> Reply:
    return Reply(text, ephemeral=True, error=True)


async def explain(req: ChatRequest, deps: Deps) -> Reply:
    words = req.args.split()
    if not words:
        return _error(EXPLAIN_USAGE)
    if _ALERT_ID.match(words[0]):
        alert = deps.alerts.find(words[0].lower())
        if alert is None:
            firing = ", ".join(a.id for a in deps.alerts.active()) or "none"
            return _error(f"No alert has the id {words[0]!r} (firing: {firing}).")
        return await asyncio.to_thread(explain_alert, alert, deps, deps.now())
    if deps.telemetry is None:
        return Reply(messages.NO_TELEMETRY, ephemeral=True)
    return await asyncio.to_thread(explain_metric, words, deps, deps.now())


def explain_alert(alert: Alert, deps: Deps, now: datetime) -> Reply:
    """The whole case of one alert."""
    detection = alert.latest
    state = (
        f"resolved {format_duration(now - alert.resolved_at)} ago"
        if alert.resolved_at is not None
        else f"firing for {format_duration(now - alert.started)}"
    )
    parts: list[Part] = []
    if alert.sentence:
        parts.append(Section(alert.sentence))
    top = [f.metric for f in detection.top] if detection is not None else []
    cause = likely_cause(top)
    if cause:
        parts.append(Section(f"Likely cause: {cause}.", "Why"))
    table = top_metrics(detection)
    if detection is not None and table is not None:
        parts.append(table)
        if not detection.frame.empty:
            try:
                parts.append(Chart(alert_chart(detection), alert.label, alt=alert.sentence))
            except Exception as exc:  # the chart is a nicety
                log.warning("explain: chart for %s failed: %s", alert.id, exc)
    else:
        parts.append(
            Context("The detection's metrics are not in memory (the bot restarted since).")
        )
    parts.extend(_knowledge(alert, deps, now))
    marks = [f"acked by {alert.acked_by}" if alert.acked_by else ""]
    marks.append(f"flapped {alert.flaps}x" if alert.flaps else "")
    shown = "; ".join(m for m in marks if m)
    parts.append(
        Context(
            f"{alert.id} · {alert.anomaly_type} (confidence {alert.confidence:.2f}) · score "
            f"{alert.score:.2f}, peak {alert.peak:.2f} · {state}" + (f" · {shown}" if shown else "")
        )
    )
    headline = f"{alert.id} [{alert.severity}] {alert.label}: {state}."
    return Reply(headline, parts=tuple(parts))


def _knowledge(alert: Alert, deps: Deps, now: datetime) -> list[Part]:
    """What the answerer finds about this alert: runbooks, past windows, logs (best effort)."""
    answerer = deps.answerer
    if answerer.retriever is None and deps.telemetry is None:
        return []
    question = (
        f"why does {alert.service} {alert.host} show {alert.anomaly_type.replace('_', ' ')} "
        "and how do I fix it?"
    )
    try:
        live = live_evidence(question, deps, now) if alert.resolved_at is None else []
        answer = answerer.ask(question, now, live)
    except Exception as exc:  # the alert's own explanation stands without it
        log.warning(
            "explain: the answerer failed for %s: %s: %s", alert.id, type(exc).__name__, exc
        )
        return []
    parts: list[Part] = []
    if answer.conclusion:
        parts.append(Section(answer.conclusion, "What the evidence says"))
    for heading, lines in answer.sections:
        parts.append(Section("\n".join(f"- {line}" for line in lines), heading))
    if answer.evidence:
        sources = "; ".join(f"[{n}] {e.label}" for n, e in enumerate(answer.evidence, start=1))
        parts.append(Context(f"Sources: {sources}"))
    return parts


def match_metric(words: list[str], names: list[str]) -> str | None:
    """The metric the words name: exact, then a name containing a word (``latency`` ->
    ``latency_p95_ms``), then the closest spelling."""
    lowered = {n.lower(): n for n in names}
    for word in words:
        if word.lower() in lowered:
            return lowered[word.lower()]
    for word in words:
        token = word.lower().replace("-", "_")
        if len(token) >= 3:
            hits = sorted(n for n in names if token in n.lower())
            if hits:
                return min(hits, key=len)
    for word in words:
        close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
        if close:
            return lowered[close[0]]
    return None


def explain_metric(words: list[str], deps: Deps, now: datetime) -> Reply:
    reader = deps.telemetry
    assert reader is not None
    names = reader.metric_names()
    metric = match_metric(words, names)
    if metric is None:
        listing = ", ".join(sorted(names)[:20]) or "none"
        return _error(
            f"{' '.join(words)[:60]!r} is neither an alert id nor a metric I read "
            f"(metrics: {listing}). {EXPLAIN_USAGE}"
        )
    pairs = reader.hosts()
    services = {w for w in words if w in {s for s, _ in pairs}}
    hosts = {w for w in words if w in {h for _, h in pairs}}
    findings = scan(
        reader,
        deps.analysis,
        now,
        window=METRIC_WINDOW,
        history=METRIC_HISTORY,
        services=services,
        hosts=hosts,
        metrics=[metric],
    )
    where = " on " + ", ".join(sorted(services | hosts)) if services or hosts else ""
    if not findings:
        return Reply(f"No data for {metric}{where} in the last {format_duration(METRIC_WINDOW)}.")
    baseline = deps.analysis.baseline_for(metric)
    unit = findings[0].unit
    breached = [f for f in findings if f.breached]
    far = [f for f in findings if not f.breached and abs(f.deviation) >= 4]
    headline = _metric_headline(metric, where, findings, breached, far)
    parts: list[Part] = []
    if baseline is not None:
        parts.append(Section(f"The team's baseline: {baseline.describe(unit)}."))
    cause = likely_cause([metric]) if breached or far else None
    if cause:
        parts.append(Section(f"When {metric} moves alone, it is usually {cause}.", "Why"))
    rows = tuple(
        (
            f"{f.service}/{f.host}",
            fmt(f.value, f.unit),
            fmt(f.peak, f.unit),
            fmt(f.normal, f.unit),
            f"{f.deviation:+.1f}",
            "past baseline" if f.breached else ("unusual" if abs(f.deviation) >= 4 else "ok"),
        )
        for f in findings[:15]
    )
    parts.append(Table(("service/host", "now", "peak", "normal", "sigma", "state"), rows))
    chart = _metric_chart(metric, findings, deps, now, baseline.max if baseline else None)
    if chart is not None:
        parts.append(chart)
    parts.append(
        Context(
            f"{metric}: last {format_duration(METRIC_WINDOW)} against the hour before, as of "
            f"{now:%H:%M} UTC; {len(findings)} series, worst first"
        )
    )
    return Reply(headline, parts=tuple(parts))


def _metric_headline(
    metric: str, where: str, findings: list[Finding], breached: list[Finding], far: list[Finding]
) -> str:
    if breached:
        worst = breached[0]
        return f"{metric}{where}: {len(breached)} past the baseline; worst {worst.sentence()}."
    if far:
        return f"{metric}{where}: within the baseline, but unusual on {far[0].sentence()}."
    return f"{metric}{where} is normal on all {len(findings)} series."


def _metric_chart(
    metric: str, findings: list[Finding], deps: Deps, now: datetime, limit: float | None
) -> Chart | None:
    reader = deps.telemetry
    if reader is None:
        return None
    wanted = {(f.service, f.host) for f in findings[:CHART_HOSTS]}
    try:
        series = [
            s
            for s in reader.query_range(metric, now - METRIC_HISTORY - METRIC_WINDOW, now)
            if (s.service, s.host) in wanted
        ]
        png = metric_chart(series, f"{metric} ({findings[0].unit})".replace(" ()", ""), limit)
    except Exception as exc:
        log.warning("explain: chart of %s failed: %s: %s", metric, type(exc).__name__, exc)
        return None
    return Chart(png, metric, alt=f"{metric} on {len(series)} hosts over the last hour")


async def anomalies(req: ChatRequest, deps: Deps) -> Reply:
    if deps.detect is None:
        return Reply(
            "The anomaly model is not running here (it needs a live metrics source).",
            ephemeral=True,
        )
    now = deps.now()
    wanted = set(req.args.split())
    detections = await asyncio.to_thread(deps.detect, now)
    detections = [d for d in detections if not wanted or d.service in wanted or d.host in wanted]
    if not detections:
        return Reply(
            "The anomaly model sees nothing unusual right now"
            + (f" on {', '.join(sorted(wanted))}." if wanted else ".")
        )
    detections.sort(key=lambda d: (d.severity != "critical", -d.score))
    firing = {a.key: a for a in deps.alerts.active()}
    rows = []
    for d in detections[:20]:
        alert = firing.get(d.key)
        state = alert.id if alert is not None else "no alert"
        if alert is not None and deps.alerts.is_muted(d.key, now):
            state += " (muted)"
        top = ", ".join(f"{f.metric} {f.sigma:+.0f}σ" for f in d.top[:3])
        rows.append(
            (f"{d.service}/{d.host}", d.anomaly_type, d.severity, f"{d.score:.2f}", top, state)
        )
    hosts = len({(d.service, d.host) for d in detections})
    parts: list[Part] = [
        Table(("service/host", "type", "severity", "score", "top metrics", "alert"), tuple(rows)),
        Section("\n".join(f"- {d.sentence}" for d in detections[:5] if d.sentence), "Why"),
        Context(f"as of {now:%H:%M} UTC · `explain ALERT_ID` for the whole case"),
    ]
    return Reply(f"The anomaly model flags {hosts} host(s) right now.", parts=tuple(parts))


EXPLAIN = Command(
    name="explain",
    summary="why an alert fired (metrics, chart, likely cause, runbook), or how a metric "
    "compares with its normal on every host",
    usage="explain ALERT_ID | METRIC [SERVICE|HOST ...]",
    handler=explain,
    examples=("explain a-3", "explain latency checkout", "explain cpu_usage batch-1"),
)
ANOMALIES = Command(
    name="anomalies",
    summary="what the anomaly model flags right now, alerting or not",
    usage="anomalies [SERVICE|HOST ...]",
    handler=anomalies,
    aliases=("anomaly",),
    examples=("anomalies", "anomalies payments"),
)
COMMANDS = (ANOMALIES, EXPLAIN)
