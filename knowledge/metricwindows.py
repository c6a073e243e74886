"""Metric series into window documents: the numbers an on-call engineer reads for five minutes of
one host or one service, from any source of ``MetricSeries`` (Prometheus, OpenMetrics files).

For each clock-aligned window and series: the current (last) value, the baseline (median of the
preceding hour, else the same window a day earlier, else the window itself), a robust z-score
(deviation over 1.4826 x MAD), the trend (least-squares slope per hour), min / p50 / p95 / max,
the same window a day earlier when known, and the team's limit from ``analysis.baseline_for``.

Documents: one per (window, host) that has notable metrics (past the team's limit, or at least
``NOTABLE_SIGMA`` from normal), and one per (window, service) that summarises every metric of the
service. Ids are derived from (source name, window, service, host), so fetching a window again
replaces its documents instead of adding copies.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from knowledge.config import AnalysisConfig, Baseline
from knowledge.documents import Document, content_id
from knowledge.findings import SIGMA_SHOWN_MAX, fmt, likely_cause
from knowledge.summarise import SYMPTOMS, span_text, windows
from knowledge.telemetry import MetricSeries

WINDOW = timedelta(minutes=5)
HISTORY = timedelta(hours=1)
DAY = timedelta(days=1)
NOTABLE_SIGMA = 4.0
SUSTAIN = 3
"""A window is past the team's limit when its last ``SUSTAIN`` samples all are."""
HIDDEN_LABELS = frozenset({"__name__", "service", "host", "job", "instance"})
SERVICE_FACTS = 8
"""At most this many metrics in a service document's text (all of them in its payload)."""

Redact = Callable[[str], str]


@dataclass(frozen=True)
class Points:
    """A series as two sorted lists (epoch seconds, values), finite values only. Plain lists:
    windows hold a handful of points, where numpy's per-call overhead dominates."""

    series: MetricSeries
    ts: list[float]
    values: list[float]

    @classmethod
    def of(cls, series: MetricSeries) -> Points:
        pairs = [
            (t.timestamp(), float(v))
            for t, v in zip(series.timestamps, series.values, strict=True)
            if math.isfinite(v)
        ]
        if any(a[0] > b[0] for a, b in itertools.pairwise(pairs)):
            pairs.sort(key=lambda p: p[0])
        return cls(series, [t for t, _ in pairs], [v for _, v in pairs])

    def between(self, lo: float, hi: float) -> tuple[list[float], list[float]]:
        i, j = bisect.bisect_left(self.ts, lo), bisect.bisect_left(self.ts, hi)
        return self.ts[i:j], self.values[i:j]


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of a sorted list."""
    pos = (len(ordered) - 1) * q
    i = int(pos)
    j = min(i + 1, len(ordered) - 1)
    return ordered[i] + (ordered[j] - ordered[i]) * (pos - i)


def _median(values: list[float]) -> float:
    return _quantile(sorted(values), 0.5)


@dataclass(frozen=True)
class WindowStats:
    """One series over one window."""

    metric: str
    unit: str
    service: str
    host: str
    labels: dict[str, str]
    value: float
    min: float
    max: float
    p50: float
    p95: float
    samples: int
    baseline: float
    baseline_from: str
    z: float
    z_p50: float
    trend: str
    slope_per_hour: float
    day_before: float | None
    limit: Baseline | None
    breached: bool

    @property
    def notable(self) -> bool:
        return self.breached or max(abs(self.z), abs(self.z_p50)) >= NOTABLE_SIGMA

    @property
    def severity(self) -> str:
        if not self.notable:
            return "info"
        bound = self.limit.max if self.limit is not None else None
        strong = self.value >= (bound or 0) * 1.25 or self.z >= 10
        if self.breached and bound is not None and bound > 0 and strong:
            return "critical"
        return "warning"

    @property
    def name(self) -> str:
        """``disk_usage`` or ``disk_usage{mountpoint="/data"}`` when other labels tell apart
        series of one host."""
        extra = {k: v for k, v in self.labels.items() if k not in HIDDEN_LABELS}
        if not extra:
            return self.metric
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(extra.items()))
        return f"{self.metric}{{{inner}}}"

    def fact(self) -> str:
        """``latency_p95_ms 900 ms (baseline 100 ms over the previous hour, +40 sigma, rising
        1,200 ms/h; min 100, p50 900, p95 900, max 900 ms; limit 200 ms)``."""
        u = self.unit
        parts = [f"baseline {fmt(self.baseline, u)} ({self.baseline_from})", sigma(self.z)]
        if self.trend != "flat":
            parts.append(f"{self.trend} {fmt(self.slope_per_hour, u)}/h")
        text = f"{self.name} {fmt(self.value, u)} ({', '.join(parts)}; "
        text += (
            f"min {fmt(self.min)}, p50 {fmt(self.p50)}, p95 {fmt(self.p95)}, max {fmt(self.max, u)}"
        )
        if self.day_before is not None:
            text += f"; a day earlier {fmt(self.day_before, u)}"
        if self.limit is not None:
            text += f"; team limit {self.limit.describe(' ' + u if u else '')}"
        return text + ")"

    def to_payload(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return round(x, 4) if x is not None and math.isfinite(x) else None

        return {
            "value": r(self.value),
            "min": r(self.min),
            "max": r(self.max),
            "p50": r(self.p50),
            "p95": r(self.p95),
            "samples": self.samples,
            "baseline": r(self.baseline),
            "baseline_from": self.baseline_from,
            "z": r(self.z),
            "z_p50": r(self.z_p50),
            "trend": self.trend,
            "slope_per_hour": r(self.slope_per_hour),
            "day_before": r(self.day_before),
            "limit_max": self.limit.max if self.limit is not None else None,
            "limit_min": self.limit.min if self.limit is not None else None,
            "breached": self.breached,
            "unit": self.unit,
            "labels": dict(sorted(self.labels.items())),
        }


def sigma(z: float) -> str:
    if abs(z) >= SIGMA_SHOWN_MAX:
        return f"z-score {'over' if z > 0 else 'under'} {'+' if z > 0 else '-'}{SIGMA_SHOWN_MAX}"
    return f"z-score {z:+.1f}"


def _trend(
    ts: list[float], values: list[float], spread: float, window_s: float
) -> tuple[str, float]:
    """``(rising|falling|flat, slope per hour)``; a trend is a change over the window of at
    least twice the series' usual spread."""
    n = len(ts)
    if n < 3:
        return "flat", 0.0
    mt, mv = sum(ts) / n, sum(values) / n
    denom = sum((t - mt) ** 2 for t in ts)
    if denom <= 0:
        return "flat", 0.0
    slope = sum((t - mt) * (v - mv) for t, v in zip(ts, values, strict=True)) / denom
    change = slope * window_s
    if abs(change) < 2 * spread:
        return "flat", slope * 3600
    return ("rising" if change > 0 else "falling"), slope * 3600


def stats(
    points: Points,
    w0: float,
    w1: float,
    limit: Baseline | None,
    history: float = HISTORY.total_seconds(),
    day_before: Points | None = None,
) -> WindowStats | None:
    """The numbers of ``points`` over ``[w0, w1)`` (epoch seconds); ``None`` without samples."""
    ts, values = points.between(w0, w1)
    if not values:
        return None
    _, past = points.between(w0 - history, w0)
    before = None
    if day_before is not None:
        _, old = day_before.between(w0 - DAY.total_seconds(), w1 - DAY.total_seconds())
        before = _median(old) if old else None
    if len(past) >= 3:
        base, source = _median(past), "median of the previous hour"
        mad = _median([abs(v - base) for v in past]) * 1.4826
    elif before is not None:
        base, source, mad = before, "same window a day earlier", 0.0
    else:
        base, source = _median(values), "this window"
        mad = _median([abs(v - base) for v in values]) * 1.4826
    spread = max(mad, abs(base) * 0.02, 1e-6)
    value = values[-1]
    ordered = sorted(values)
    p50, p95 = _quantile(ordered, 0.5), _quantile(ordered, 0.95)
    tail = values[-SUSTAIN:]
    breached = limit is not None and all(limit.breached_by(v) for v in tail)
    trend, slope = _trend(ts, values, spread, w1 - w0)
    series = points.series
    return WindowStats(
        metric=series.metric,
        unit=series.unit,
        service=series.service,
        host=series.host,
        labels=series.labels,
        value=value,
        min=ordered[0],
        max=ordered[-1],
        p50=p50,
        p95=p95,
        samples=len(values),
        baseline=base,
        baseline_from=source,
        z=(value - base) / spread,
        z_p50=(p50 - base) / spread,
        trend=trend,
        slope_per_hour=slope,
        day_before=before,
        limit=limit,
        breached=breached,
    )


def _key(series: MetricSeries) -> tuple[str, tuple[tuple[str, str], ...]]:
    return series.metric, tuple(sorted(series.labels.items()))


def window_documents(
    series: Iterable[MetricSeries],
    start: datetime,
    end: datetime,
    analysis: AnalysisConfig,
    redact: Redact,
    source: str = "prometheus",
    name: str = "prometheus",
    day_before: Iterable[MetricSeries] = (),
    window: timedelta = WINDOW,
    history: timedelta = HISTORY,
) -> list[Document]:
    """Documents for the whole windows of ``[start, end)``. ``series`` must reach ``history``
    before ``start`` for the baselines; ``day_before``: the same series a day earlier (matched
    by metric and labels). ``name``: the source instance, part of every id."""
    olds = {_key(s): Points.of(s) for s in day_before}
    all_points = [Points.of(s) for s in series]
    limits = {p.series.metric: analysis.baseline_for(p.series.metric) for p in all_points}
    clean = _Cleaner(redact)
    span = history.total_seconds()
    docs: list[Document] = []
    for w0 in windows(start, end, window):
        w1 = w0 + window
        lo, hi = w0.timestamp(), w1.timestamp()
        found = [
            s
            for p in all_points
            if (s := stats(p, lo, hi, limits[p.series.metric], span, olds.get(_key(p.series))))
            is not None
        ]
        by_host: dict[tuple[str, str], list[WindowStats]] = defaultdict(list)
        by_service: dict[str, list[WindowStats]] = defaultdict(list)
        for s in found:
            by_service[s.service].append(s)
            if s.host:
                by_host[(s.service, s.host)].append(s)
        noisy: dict[str, list[str]] = defaultdict(list)
        for (service, host), group in sorted(by_host.items()):
            if any(s.notable for s in group):
                docs.append(host_document(source, name, service, host, w0, w1, group, clean))
                noisy[service].append(host)
        for service, group in sorted(by_service.items()):
            docs.append(
                service_document(source, name, service, w0, w1, group, noisy[service], clean)
            )
    return docs


class _Cleaner:
    """``redact`` with a memory: label values repeat in every window."""

    def __init__(self, redact: Redact) -> None:
        self.redact = redact
        self.seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        out = self.seen.get(text)
        if out is None:
            out = self.seen[text] = self.redact(text)
        return out

    def labels(self, labels: dict[str, str]) -> dict[str, str]:
        return {k: self(v) for k, v in labels.items()}


def window_id(name: str, scope: str, service: str, host: str, w0: datetime) -> str:
    return content_id(name, "metric_window", scope, service, host, w0.astimezone(UTC).isoformat())


def host_document(
    source: str,
    name: str,
    service: str,
    host: str,
    w0: datetime,
    w1: datetime,
    group: list[WindowStats],
    clean: Callable[[str], str],
) -> Document:
    """One host's window: its notable metrics in the text, every metric in the payload."""
    notable = sorted(
        (s for s in group if s.notable), key=lambda s: (not s.breached, -abs(s.z), s.name)
    )
    breached = [s for s in notable if s.breached]
    metrics = [s.metric for s in notable]
    symptoms = ", ".join(dict.fromkeys(SYMPTOMS.get(m, m) for m in metrics[:4]))
    where = f"{clean(host)} ({clean(service)})" if service else clean(host)
    text = f"{where} {span_text(w0, w1)}: {symptoms}. "
    text += "; ".join(clean(s.fact()) for s in notable[:6]) + "."
    if breached:
        text += " Past the team's baseline: " + ", ".join(s.name for s in breached) + "."
    cause = likely_cause(metrics)
    if cause:
        text += f" Pattern: {cause}."
    severity = "critical" if any(s.severity == "critical" for s in notable) else "warning"
    return Document(
        id=window_id(name, "host", service, host, w0),
        source=source,
        kind="metric_window",
        ts=w0,
        service=clean(service),
        host=clean(host),
        severity=severity,
        title=f"metrics {clean(host)}",
        text=text,
        payload={
            "window_end": w1.isoformat(),
            "notable": [s.name for s in notable],
            "metrics": {clean(s.name): _payload(s, clean) for s in group},
        },
    )


def _payload(s: WindowStats, clean: Callable[[str], str]) -> dict[str, Any]:
    out = s.to_payload()
    out["labels"] = {k: clean(v) for k, v in out["labels"].items()}
    return out


def service_document(
    source: str,
    name: str,
    service: str,
    w0: datetime,
    w1: datetime,
    group: list[WindowStats],
    noisy_hosts: list[str],
    clean: Callable[[str], str],
) -> Document:
    """One service's window: per metric, the median over its hosts and the worst host."""
    by_metric: dict[str, list[WindowStats]] = defaultdict(list)
    for s in group:
        by_metric[s.metric].append(s)
    summary: dict[str, dict[str, Any]] = {}
    for metric, items in sorted(by_metric.items()):
        worst = max(items, key=lambda s: abs(s.z))
        summary[metric] = {
            "median": round(_median([s.value for s in items]), 4),
            "max": round(max(s.max for s in items), 4),
            "baseline": round(_median([s.baseline for s in items]), 4),
            "worst_host": clean(worst.host),
            "worst_z": round(worst.z, 2),
            "series": len(items),
            "unit": items[0].unit,
            "breached": sum(1 for s in items if s.breached),
        }
    order = sorted(summary, key=lambda m: (m not in SYMPTOMS, -abs(summary[m]["worst_z"]), m))
    facts = []
    for metric in order[:SERVICE_FACTS]:
        row, unit = summary[metric], summary[metric]["unit"]
        fact = (
            f"{metric} {fmt(row['median'], unit)} (max {fmt(row['max'], unit)}, "
            f"baseline {fmt(row['baseline'], unit)}"
        )
        if abs(row["worst_z"]) >= NOTABLE_SIGMA:
            fact += f", worst {row['worst_host']} {sigma(row['worst_z'])}"
        facts.append(fact + ")")
    hosts = sorted({s.host for s in group if s.host})
    label = clean(service) or "unlabelled series"
    if noisy_hosts:
        verdict = (
            f"{len(noisy_hosts)} of {len(hosts)} hosts out of their normal range or past a "
            f"baseline ({', '.join(clean(h) for h in noisy_hosts[:5])}; see their own windows)"
        )
    else:
        verdict = f"all {len(hosts)} hosts within baselines and their normal range"
    breached = any(s.breached for s in group)
    return Document(
        id=window_id(name, "service", service, "", w0),
        source=source,
        kind="metric_window",
        ts=w0,
        service=clean(service),
        severity="warning" if breached else "info",
        title=f"metrics {label}",
        text=f"{label} service {span_text(w0, w1)}: {verdict}; {'; '.join(facts)}.",
        payload={
            "window_end": w1.isoformat(),
            "hosts": [clean(h) for h in hosts],
            "noisy_hosts": [clean(h) for h in noisy_hosts],
            "metrics": summary,
        },
    )
