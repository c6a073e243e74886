"""Findings: which series are outside the team's baselines or far from their own normal.

A finding compares the latest minutes of one series with (a) the team's baseline for that metric
and (b) the series' own recent history (median and MAD), and keeps the numbers an on-call
engineer needs to judge it: value, peak, normal, limit, since when.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from knowledge.config import AnalysisConfig, Baseline
from knowledge.sources.base import TelemetryReader
from knowledge.telemetry import MetricSeries

# Co-moving metrics and what they usually mean. Checked in order; the first match wins.
LIKELY_CAUSES: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset({"java_heap_usage", "java_gc_time"}),
        "a memory leak or an undersized heap: the JVM heap fills and garbage collection eats CPU",
    ),
    (
        frozenset({"db_pool_usage"}),
        "database connection pool exhaustion: slow queries or leaked connections hold the pool",
    ),
    (frozenset({"disk_usage"}), "a filling disk: logs, temp files or data outgrowing the volume"),
    (frozenset({"java_gc_time"}), "GC pressure: allocation rate above what the heap absorbs"),
    (frozenset({"memory_usage"}), "memory growth, possibly a leak in the process"),
    (
        frozenset({"latency_p95_ms", "error_rate"}),
        "slow or failing dependencies (network congestion or an overloaded downstream)",
    ),
    (frozenset({"cpu_usage"}), "CPU saturation: a runaway process or more load than capacity"),
    (frozenset({"latency_p95_ms"}), "requests slowing down, usually a saturated dependency"),
    (frozenset({"error_rate"}), "requests failing: check recent deploys and error logs"),
)


# Past this, a sigma figure says nothing more than "far outside its normal range".
SIGMA_SHOWN_MAX = 20


@dataclass(frozen=True)
class Finding:
    service: str
    host: str
    metric: str
    unit: str
    value: float
    peak: float
    normal: float
    deviation: float  # robust z-score of the latest value against the history
    baseline: Baseline | None
    breached: bool  # past the team's baseline for the whole sustain period
    since: datetime | None  # first minute of the current run past the baseline
    at: datetime

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.host, self.metric)

    @property
    def severity(self) -> str:
        limit = self.baseline.max if self.baseline is not None else None
        if limit is not None and limit > 0 and (self.value >= limit * 1.25 or self.deviation >= 10):
            return "critical"
        return "warning"

    def sentence(self) -> str:
        """``latency_p95_ms on checkout-2 is 840 ms (normal 110 ms, limit 200 ms) since 10:05``."""
        text = (
            f"{self.metric} on {self.host} is {fmt(self.value, self.unit)} "
            f"(normal {fmt(self.normal, self.unit)}"
        )
        if self.baseline is not None and self.baseline.max is not None:
            text += f", limit {fmt(self.baseline.max, self.unit)}"
        text += ")"
        if self.since is not None:
            text += f" since {self.since:%H:%M}"
        if abs(self.deviation) >= SIGMA_SHOWN_MAX:
            text += f", {'over' if self.deviation > 0 else 'under'} {SIGMA_SHOWN_MAX} sigma"
        elif abs(self.deviation) >= 3:
            text += f", {self.deviation:+.1f} sigma"
        return text


def fmt(value: float, unit: str = "") -> str:
    """Format a metric value with its unit: ``91 %``, ``840 ms``, ``2.4``, ``1,203 req/s``."""
    if abs(value) >= 100:
        number = f"{value:,.0f}"
    elif abs(value) >= 10:
        number = f"{value:.1f}".rstrip("0").rstrip(".")
    else:
        number = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{number} {unit}".strip() if unit else number


def evaluate(
    series: MetricSeries,
    baseline: Baseline | None,
    window_start: datetime,
    sustain: int = 3,
) -> Finding | None:
    """Compare the points of ``series`` from ``window_start`` on with the points before it."""
    history = [v for t, v in zip(series.timestamps, series.values, strict=True) if t < window_start]
    recent = [
        (t, v) for t, v in zip(series.timestamps, series.values, strict=True) if t >= window_start
    ]
    clean = [v for _, v in recent if math.isfinite(v)]
    if not clean:
        return None
    normal = median(h for h in history if math.isfinite(h)) if history else median(clean)
    spread = median(abs(h - normal) for h in history) * 1.4826 if history else 0.0
    spread = max(spread, abs(normal) * 0.02, 1e-6)
    value = clean[-1]
    tail = [v for _, v in recent[-sustain:]]
    breached = (
        baseline is not None
        and len(tail) >= min(sustain, len(recent))
        and all(math.isfinite(v) and baseline.breached_by(v) for v in tail)
    )
    since = None
    if breached:
        points = zip(series.timestamps, series.values, strict=True)
        for t, v in reversed(list(points)):
            if not (math.isfinite(v) and baseline is not None and baseline.breached_by(v)):
                break
            since = t
    return Finding(
        service=series.service,
        host=series.host,
        metric=series.metric,
        unit=series.unit,
        value=value,
        peak=max(clean),
        normal=normal,
        deviation=(value - normal) / spread,
        baseline=baseline,
        breached=breached,
        since=since,
        at=recent[-1][0],
    )


def scan(
    reader: TelemetryReader,
    analysis: AnalysisConfig,
    end: datetime,
    window: timedelta = timedelta(minutes=10),
    history: timedelta = timedelta(hours=1),
    services: Iterable[str] = (),
    hosts: Iterable[str] = (),
    metrics: Iterable[str] = (),
    sustain: int = 3,
) -> list[Finding]:
    """Every series' finding over ``[end - window, end]``, most worrying first."""
    wanted_services, wanted_hosts = set(services), set(hosts)
    names = list(metrics) or reader.metric_names()
    findings = []
    for metric in names:
        baseline = analysis.baseline_for(metric)
        for series in reader.query_range(metric, end - window - history, end):
            if wanted_services and series.service not in wanted_services:
                continue
            if wanted_hosts and series.host not in wanted_hosts:
                continue
            if not series.unit:
                series = MetricSeries(
                    series.metric,
                    series.labels,
                    series.timestamps,
                    series.values,
                    reader.unit(metric),
                )
            finding = evaluate(series, baseline, end - window, sustain=sustain)
            if finding is not None:
                findings.append(finding)
    findings.sort(key=lambda f: (not f.breached, -abs(f.deviation)))
    return findings


def likely_cause(metrics: Iterable[str]) -> str | None:
    """The usual meaning of a set of metrics moving together, from ``LIKELY_CAUSES``."""
    moving = set(metrics)
    return next((cause for needed, cause in LIKELY_CAUSES if needed <= moving), None)
