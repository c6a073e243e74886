"""Telemetry into documents: metric windows into facts, log lines into patterns, spans into slow
and failing paths. Each document is a short text an engineer (and a retriever) can read, with
the numbers in ``payload``.

Windows are fixed (default five minutes) and aligned to the clock, so ingesting the same window
twice yields the same documents and the same ids.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from knowledge import logpatterns
from knowledge.config import AnalysisConfig
from knowledge.documents import Document
from knowledge.findings import Finding, evaluate, fmt, likely_cause
from knowledge.sources.base import TelemetryReader
from knowledge.telemetry import MetricSeries, Span

Redact = Callable[[str], str]
WINDOW = timedelta(minutes=5)
HISTORY = timedelta(hours=1)
NOTABLE_SIGMA = 4.0

# Plain words for what a metric moving means, so that "why is X slow" finds latency windows.
SYMPTOMS: dict[str, str] = {
    "latency_p95_ms": "slow responses (high p95 latency)",
    "error_rate": "failing requests (high error rate, 5xx)",
    "request_rate": "traffic change (request rate)",
    "cpu_usage": "high CPU",
    "load_average": "high load average",
    "memory_usage": "memory growth",
    "java_heap_usage": "JVM heap filling up",
    "java_gc_time": "long garbage collection (GC) pauses",
    "disk_usage": "disk filling up",
    "db_pool_usage": "database connection pool saturated",
    "spectrum_active_jobs": "batch job count change",
    "vemkd_process_count": "vemkd process count change",
}


def windows(start: datetime, end: datetime, size: timedelta = WINDOW) -> Iterator[datetime]:
    """Window starts aligned to ``size`` covering ``[start, end)``; only whole windows."""
    step = int(size.total_seconds())
    first = int(start.timestamp()) // step * step
    t = first
    while t + step <= end.timestamp():
        yield datetime.fromtimestamp(t, tz=start.tzinfo)
        t += step


def span_text(w0: datetime, w1: datetime) -> str:
    return f"{w0:%H:%M}–{w1:%H:%M} UTC on {w0:%Y-%m-%d}"


# ----------------------------------------------------------------------------- metrics


def _slice(series: MetricSeries, lo: datetime, hi: datetime) -> MetricSeries:
    pairs = [(t, v) for t, v in zip(series.timestamps, series.values, strict=True) if lo <= t < hi]
    return MetricSeries(
        series.metric,
        series.labels,
        [t for t, _ in pairs],
        [v for _, v in pairs],
        series.unit,
    )


def metric_documents(
    reader: TelemetryReader,
    analysis: AnalysisConfig,
    start: datetime,
    end: datetime,
    source: str = "demo",
    window: timedelta = WINDOW,
    history: timedelta = HISTORY,
) -> list[Document]:
    """One document per host and window where a metric is past its baseline or far from its own
    normal; one per service and window that says the rest was normal, with typical values."""
    series_by_metric: dict[str, list[MetricSeries]] = {}
    for metric in reader.metric_names():
        found = reader.query_range(metric, start - history, end)
        unit = reader.unit(metric)
        series_by_metric[metric] = [
            s if s.unit else MetricSeries(s.metric, s.labels, s.timestamps, s.values, unit)
            for s in found
        ]
    docs: list[Document] = []
    for w0 in windows(start, end, window):
        w1 = w0 + window
        by_host: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        normal_by_service: dict[str, dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for metric, all_series in series_by_metric.items():
            baseline = analysis.baseline_for(metric)
            for series in all_series:
                finding = evaluate(_slice(series, w0 - history, w1), baseline, w0)
                if finding is None:
                    continue
                if finding.breached or abs(finding.deviation) >= NOTABLE_SIGMA:
                    by_host[(finding.service, finding.host)].append(finding)
                normal_by_service[finding.service][metric].append(finding.value)
        for (service, host), findings in sorted(by_host.items()):
            docs.append(_host_window(source, service, host, w0, w1, findings))
        noisy = {service for service, _ in by_host}
        for service, values in sorted(normal_by_service.items()):
            docs.append(_service_window(source, service, w0, w1, values, service in noisy))
    return docs


def _host_window(
    source: str, service: str, host: str, w0: datetime, w1: datetime, findings: list[Finding]
) -> Document:
    findings.sort(key=lambda f: (not f.breached, -abs(f.deviation)))
    breached = [f for f in findings if f.breached]
    metrics = [f.metric for f in findings]
    facts = "; ".join(_fact(f) for f in findings[:6])
    symptoms = ", ".join(dict.fromkeys(SYMPTOMS.get(m, m) for m in metrics[:4]))
    text = f"{host} ({service}) {span_text(w0, w1)}: {symptoms}. {facts}."
    if breached:
        text += " Past the team's baseline: " + ", ".join(f.metric for f in breached) + "."
    cause = likely_cause(metrics)
    if cause:
        text += f" Pattern: {cause}."
    severity = "critical" if any(f.severity == "critical" for f in breached) else "warning"
    return Document(
        source=source,
        kind="metric_window",
        ts=w0,
        service=service,
        host=host,
        severity=severity if breached else "warning",
        title=f"metrics {host}",
        text=text,
        payload={
            "window_end": w1.isoformat(),
            "metrics": {
                f.metric: {
                    "value": round(f.value, 3),
                    "peak": round(f.peak, 3),
                    "normal": round(f.normal, 3),
                    "sigma": round(f.deviation, 1) if math.isfinite(f.deviation) else None,
                    "limit": f.baseline.max if f.baseline is not None else None,
                    "breached": f.breached,
                    "unit": f.unit,
                }
                for f in findings
            },
        },
    )


def _fact(finding: Finding) -> str:
    text = (
        f"{finding.metric} {fmt(finding.value, finding.unit)} "
        f"(peak {fmt(finding.peak, finding.unit)}, normal {fmt(finding.normal, finding.unit)}"
    )
    if finding.baseline is not None and finding.baseline.max is not None:
        text += f", limit {fmt(finding.baseline.max, finding.unit)}"
    return text + ")"


def _service_window(
    source: str,
    service: str,
    w0: datetime,
    w1: datetime,
    values: dict[str, list[float]],
    noisy: bool,
) -> Document:
    typical = {m: median(v) for m, v in values.items() if v}
    shown = [
        m for m in ("latency_p95_ms", "error_rate", "cpu_usage", "request_rate") if m in typical
    ]
    numbers = ", ".join(f"{m} {fmt(typical[m])}" for m in shown)
    verdict = (
        "some hosts out of their normal range (see their own windows)"
        if noisy
        else "all hosts within baselines and their normal range"
    )
    return Document(
        source=source,
        kind="metric_window",
        ts=w0,
        service=service,
        severity="info",
        title=f"metrics {service}",
        text=f"{service} service {span_text(w0, w1)}: {verdict}; typical {numbers}.",
        payload={"window_end": w1.isoformat(), "typical": typical},
    )


# ----------------------------------------------------------------------------- logs


def _message(line: str) -> str:
    """The human part of a log line: the ``msg`` of a JSON line, else the line without its
    timestamp prefix."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return logpatterns.strip_prefix(line)
        if isinstance(record, dict):
            return str(record.get("msg") or record.get("message") or line)
    return logpatterns.strip_prefix(line)


def log_documents(
    reader: TelemetryReader,
    start: datetime,
    end: datetime,
    redact: Redact,
    source: str = "demo",
    window: timedelta = WINDOW,
    per_window: int = 5,
) -> list[Document]:
    """One document per service and window with warnings or errors: its top log patterns, with
    counts, hosts and first/last times. Lines are redacted before they are grouped."""
    docs: list[Document] = []
    for w0 in windows(start, end, window):
        w1 = w0 + window
        records = reader.logs(w0, w1)
        by_service: dict[str, list[Any]] = defaultdict(list)
        for record in records:
            by_service[record.service].append(record)
        for service, rows in sorted(by_service.items()):
            patterns = logpatterns.group(rows, redact=lambda s: redact(_message(s)))
            if not patterns:
                continue
            hosts = Counter(p.first.host for p in patterns for _ in range(p.count))
            lines = []
            for p in patterns[:per_window]:
                example = redact(_message(p.last.message.splitlines()[0]))[:180]
                lines.append(
                    f"{p.count}x {p.level} on {p.first.host} ({p.first.ts:%H:%M:%S}–"
                    f"{p.last.ts:%H:%M:%S}): {example}"
                )
            errors = sum(p.count for p in patterns if p.level in ("ERROR", "FATAL"))
            total = sum(p.count for p in patterns)
            text = (
                f"{service} warning and error logs {span_text(w0, w1)} "
                f"({total} lines, {errors} errors): " + " | ".join(lines)
            )
            docs.append(
                Document(
                    source=source,
                    kind="log_pattern",
                    ts=w0,
                    service=service,
                    host=hosts.most_common(1)[0][0],
                    severity="critical" if errors >= 20 else "warning" if errors else "info",
                    title=f"logs {service}",
                    text=text,
                    payload={
                        "window_end": w1.isoformat(),
                        "patterns": [
                            {"template": p.template, "level": p.level, "count": p.count}
                            for p in patterns[:per_window]
                        ],
                        "lines": total,
                        "errors": errors,
                    },
                )
            )
    return docs


# ----------------------------------------------------------------------------- traces


def trace_documents(
    spans: list[Span],
    start: datetime,
    end: datetime,
    source: str = "demo",
    window: timedelta = WINDOW,
    slow_ms: float = 500.0,
) -> list[Document]:
    """Per window, the paths where slow (root over ``slow_ms``) or failing traces spent their
    time: the span with the most self time, grouped by service and operation."""
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    by_window: dict[datetime, list[list[Span]]] = defaultdict(list)
    step = window.total_seconds()
    for trace in traces.values():
        root = next((s for s in trace if s.parent_id is None), trace[0])
        if not start <= root.start < end:
            continue
        w0 = datetime.fromtimestamp(root.start.timestamp() // step * step, tz=root.start.tzinfo)
        by_window[w0].append(trace)
    docs = []
    for w0, group in sorted(by_window.items()):
        w1 = w0 + window
        hot: dict[tuple[str, str], list[tuple[Span, Span, bool]]] = defaultdict(list)
        durations = sorted(
            next((s for s in t if s.parent_id is None), t[0]).duration_ms for t in group
        )
        for trace in group:
            root = next((s for s in trace if s.parent_id is None), trace[0])
            failed = any(s.status == "error" for s in trace)
            if root.duration_ms < slow_ms and not failed:
                continue
            culprit = _culprit(trace, failed)
            hot[(culprit.service, culprit.operation)].append((root, culprit, failed))
        for (service, operation), items in sorted(hot.items(), key=lambda kv: -len(kv[1])):
            docs.append(_trace_doc(source, service, operation, w0, w1, items, durations))
    return docs


def _culprit(trace: list[Span], failed: bool) -> Span:
    """The failing span deepest in the trace, or else the span with the most self time."""
    if failed:
        errors = [s for s in trace if s.status == "error"]
        parents = {s.parent_id for s in errors}
        return next((s for s in errors if s.span_id not in parents), errors[-1])
    child_time: dict[str | None, float] = defaultdict(float)
    for span in trace:
        child_time[span.parent_id] += span.duration_ms
    return max(trace, key=lambda s: s.duration_ms - child_time.get(s.span_id, 0.0))


def _trace_doc(
    source: str,
    service: str,
    operation: str,
    w0: datetime,
    w1: datetime,
    items: list[tuple[Span, Span, bool]],
    durations: list[float],
) -> Document:
    failed = sum(1 for *_, f in items if f)
    slow = len(items) - failed
    roots = Counter(root.operation for root, *_ in items).most_common(2)
    culprit_ms = median(c.duration_ms for _, c, _ in items)
    root_ms = median(r.duration_ms for r, *_ in items)
    hosts = Counter(c.host for _, c, _ in items)
    p95 = durations[min(len(durations) - 1, int(len(durations) * 0.95))] if durations else 0.0
    what = []
    if slow:
        what.append(f"{slow} slow")
    if failed:
        what.append(f"{failed} failing")
    text = (
        f"Traces {span_text(w0, w1)}: {' and '.join(what)} requests "
        f"({', '.join(op for op, _ in roots)}) spent their time in {service} {operation} on "
        f"{', '.join(h for h, _ in hosts.most_common(2))}: median {fmt(culprit_ms)} ms there, "
        f"{fmt(root_ms)} ms end to end; fleet p95 {fmt(p95)} ms over {len(durations)} traces."
    )
    statement = next((c.tags.get("db.statement") for _, c, _ in items if c.tags), None)
    if statement:
        text += f" Query: {statement[:120]}"
    return Document(
        source=source,
        kind="trace_path",
        ts=w0,
        service=service,
        host=hosts.most_common(1)[0][0],
        severity="warning" if failed or root_ms > 1000 else "info",
        title=f"traces {service} {operation}",
        text=text,
        payload={
            "window_end": w1.isoformat(),
            "operation": operation,
            "slow": slow,
            "failed": failed,
            "trace_ids": [r.trace_id for r, *_ in items[:5]],
            "median_ms": round(culprit_ms, 1),
        },
    )
