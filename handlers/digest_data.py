"""What a digest says about alerts and metrics, gathered for a period: the alerts of the
period, per-series statistics against the team's baselines and each series' own normal, and the
per-service key numbers (p95 latency, error rate).

Plain data and arithmetic; ``handlers.digest_render`` turns it into parts. Metrics are read once
per metric over the period plus the history before it (one query each), at a step that keeps a
long period to about ``MAX_POINTS`` points per series.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from handlers.alertbook import Alert, AlertBook
from knowledge.config import AnalysisConfig, Baseline
from knowledge.sources.base import TelemetryReader
from knowledge.telemetry import MetricSeries

log = logging.getLogger(__name__)

KEY_METRICS = ("latency_p95_ms", "error_rate")
"""The key numbers of every digest, per service: p95 latency and error rate."""
MAX_POINTS = 1440  # per series and period: a day at one-minute steps
SUSTAIN = 3  # points in a row past a baseline or far from normal before it counts
FAR_SIGMA = 6.0  # robust z-score past which a value is "far from normal"


def history_for(period: timedelta) -> timedelta:
    """How much history before the period sets each series' normal: as long as the period,
    between one hour and a day."""
    return min(max(period, timedelta(hours=1)), timedelta(days=1))


def step_for(period: timedelta) -> int:
    """Seconds between points: one minute, coarser for periods past a day."""
    seconds = period.total_seconds() / MAX_POINTS
    return max(60, math.ceil(seconds / 60) * 60)


# ----------------------------------------------------------------------------- alerts


def period_alerts(book: AlertBook, start: datetime, end: datetime) -> list[Alert]:
    """Alerts open at some point of ``[start, end]``: still firing, or closed since ``start``;
    oldest first. Copies: the alerts job may change the book's own while the digest is written,
    and the headline and the lines must tell the same story."""
    seen: dict[str, Alert] = {}
    for alert in [*book.closed(start), *book.active()]:
        if alert.started < end:
            seen[alert.id] = copy.copy(alert)
    return sorted(seen.values(), key=lambda a: a.started)


def lasted(alert: Alert, end: datetime) -> timedelta:
    """How long the anomaly lasted: until it was last seen when the model cleared it, until the
    hand resolution otherwise, and until ``end`` while open."""
    if alert.resolved_at is None:
        return max(end - alert.started, alert.last_seen - alert.started)
    if alert.resolved_by is None:
        return alert.last_seen - alert.started
    return alert.resolved_at - alert.started


# ----------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class SeriesStats:
    """One (service, host, metric) over the period, against its history and the baseline."""

    service: str
    host: str
    metric: str
    unit: str
    value: float  # the last value of the period
    peak: float  # the value furthest from normal
    peak_at: datetime
    normal: float  # the median of the history
    sigma: float  # the robust z-score of ``peak``
    far_run: int  # the longest run of points far from normal
    baseline: Baseline | None
    breach: timedelta  # time past the baseline in the period

    @property
    def notable(self) -> bool:
        """Past its baseline or far from normal, for ``SUSTAIN`` points or more."""
        return self.breach > timedelta(0) or self.far_run >= SUSTAIN


@dataclass(frozen=True)
class ServiceKey:
    """One key metric of one service over the period, its worst host at each point."""

    service: str
    metric: str
    unit: str
    value: float  # at the end of the period
    peak: float
    peak_host: str
    baseline: Baseline | None
    breach: timedelta  # time any host was past the baseline
    breaching_since: datetime | None  # past the baseline at the end, since then
    times: tuple[datetime, ...]
    worst: tuple[float, ...]  # the worst host's value at each of ``times``


@dataclass
class MetricsView:
    stats: list[SeriesStats]
    keys: list[ServiceKey]
    step: timedelta
    metrics: int = 0  # metric names the source listed
    failed: int = 0  # of which reading failed
    error: str = ""  # the first failure: ``ErrorType: message``

    @property
    def unreadable(self) -> bool:
        """Every metric failed to read: the view says nothing about the period."""
        return self.failed > 0 and self.failed == self.metrics


def read_metrics(
    reader: TelemetryReader,
    analysis: AnalysisConfig,
    start: datetime,
    end: datetime,
    services: Iterable[str] = (),
) -> MetricsView:
    """Every series over ``[start, end]`` against the history before it, and the key numbers
    per service."""
    wanted = set(services)
    period = end - start
    step = step_for(period)
    history = history_for(period)
    stats: list[SeriesStats] = []
    keys: list[ServiceKey] = []
    view = MetricsView(stats, keys, timedelta(seconds=step))
    for metric in reader.metric_names():
        view.metrics += 1
        baseline = analysis.baseline_for(metric)
        try:
            found = reader.query_range(metric, start - history, end, step_s=step)
        except Exception as exc:  # one metric failing leaves the others
            log.warning("digest: reading %s failed: %s: %s", metric, type(exc).__name__, exc)
            view.failed += 1
            view.error = view.error or error_text(exc)
            continue
        series = [s for s in found if not wanted or s.service in wanted]
        unit = reader.unit(metric)
        for item in series:
            one = series_stats(item, baseline, start, item.unit or unit, step)
            if one is not None:
                stats.append(one)
        if metric in KEY_METRICS:
            keys.extend(service_keys(series, baseline, start, unit, step))
    return view


def error_text(exc: BaseException, limit: int = 80) -> str:
    """``ErrorType: message`` on one line, the message cut at ``limit`` characters."""
    message = " ".join(str(exc).split())
    if len(message) > limit:
        message = message[: limit - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _split(
    series: MetricSeries, start: datetime
) -> tuple[list[float], list[tuple[datetime, float]]]:
    history, period = [], []
    for t, v in zip(series.timestamps, series.values, strict=True):
        if not math.isfinite(v):
            continue
        if t < start:
            history.append(v)
        else:
            period.append((t, v))
    return history, period


def series_stats(
    series: MetricSeries, baseline: Baseline | None, start: datetime, unit: str, step: int
) -> SeriesStats | None:
    history, period = _split(series, start)
    if not period:
        return None
    values = [v for _, v in period]
    normal = median(history) if history else median(values)
    spread = median(abs(h - normal) for h in history) * 1.4826 if history else 0.0
    spread = max(spread, abs(normal) * 0.02, 1e-6)
    z = [(v - normal) / spread for v in values]
    toward = [_toward_limit(x, baseline) for x in z]
    worst = max(range(len(z)), key=lambda i: toward[i])
    far_run = _longest_run([x >= FAR_SIGMA for x in toward]) if history else 0
    breached = sum(1 for v in values if baseline is not None and baseline.breached_by(v))
    return SeriesStats(
        service=series.service,
        host=series.host,
        metric=series.metric,
        unit=unit,
        value=values[-1],
        peak=values[worst],
        peak_at=period[worst][0],
        normal=normal,
        sigma=z[worst],
        far_run=far_run,
        baseline=baseline,
        breach=timedelta(seconds=breached * step) if breached >= SUSTAIN else timedelta(0),
    )


def _toward_limit(z: float, baseline: Baseline | None) -> float:
    """How far a deviation goes toward trouble: up for a baseline with only a maximum (disk
    usage falling is no news), down for one with only a minimum, either way otherwise."""
    if baseline is not None and baseline.min is None:
        return z
    if baseline is not None and baseline.max is None:
        return -z
    return abs(z)


def _longest_run(flags: Sequence[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def service_keys(
    series: list[MetricSeries], baseline: Baseline | None, start: datetime, unit: str, step: int
) -> list[ServiceKey]:
    """Per service: the worst host's value at each point (highest, or lowest for a baseline
    with only a minimum), and how long that was past the baseline."""
    lowest = baseline is not None and baseline.max is None and baseline.min is not None
    pick: Callable[[Iterable[float]], float] = min if lowest else max
    by_service: dict[str, list[MetricSeries]] = defaultdict(list)
    for item in series:
        by_service[item.service].append(item)
    out = []
    for service, items in sorted(by_service.items()):
        points: dict[datetime, list[tuple[float, str]]] = defaultdict(list)
        for item in items:
            for t, v in zip(item.timestamps, item.values, strict=True):
                if t >= start and math.isfinite(v):
                    points[t].append((v, item.host))
        if not points:
            continue
        times = sorted(points)
        worst = [pick(v for v, _ in points[t]) for t in times]
        peak_value, peak_host = (min if lowest else max)(p for t in times for p in points[t])
        flags = [baseline is not None and baseline.breached_by(v) for v in worst]
        since = None
        if len(flags) >= SUSTAIN and all(flags[-SUSTAIN:]):
            index = len(flags) - 1
            while index > 0 and flags[index - 1]:
                index -= 1
            since = times[index]
        breached = sum(flags)
        out.append(
            ServiceKey(
                service=service,
                metric=items[0].metric,
                unit=items[0].unit or unit,
                value=worst[-1],
                peak=peak_value,
                peak_host=peak_host,
                baseline=baseline,
                breach=timedelta(seconds=breached * step) if breached >= SUSTAIN else timedelta(0),
                breaching_since=since,
                times=tuple(times),
                worst=tuple(worst),
            )
        )
    return out


def downsample(
    times: Sequence[datetime], values: Sequence[float], buckets: int = 288
) -> tuple[list[datetime], list[float]]:
    """At most ``buckets`` points, each the highest of its bucket (spikes stay visible)."""
    size = max(1, math.ceil(len(values) / buckets))
    if size == 1:
        return list(times), list(values)
    out_t, out_v = [], []
    for i in range(0, len(values), size):
        chunk = values[i : i + size]
        out_t.append(times[i])
        out_v.append(max(chunk))
    return out_t, out_v
