from __future__ import annotations

from datetime import UTC, datetime, timedelta

from knowledge.config import Baseline
from knowledge.findings import evaluate, fmt, likely_cause
from knowledge.telemetry import MetricSeries

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
LIMIT = Baseline(metric="latency_p95_ms", max=200)


def series(values: list[float]) -> MetricSeries:
    times = [T0 + timedelta(minutes=i) for i in range(len(values))]
    return MetricSeries(
        "latency_p95_ms", {"service": "checkout", "host": "checkout-2"}, times, values, "ms"
    )


def test_sustained_breach_reports_value_normal_limit_and_since() -> None:
    values = [100.0 + (i % 3) for i in range(50)] + [400.0] * 10
    finding = evaluate(series(values), LIMIT, window_start=T0 + timedelta(minutes=55))
    assert finding is not None and finding.breached
    assert finding.since == T0 + timedelta(minutes=50)  # found before the window began
    assert finding.normal == 101.0 and finding.peak == 400.0
    assert finding.severity == "critical"
    assert finding.sentence() == (
        "latency_p95_ms on checkout-2 is 400 ms (normal 101 ms, limit 200 ms) since 10:50, "
        "over 20 sigma"
    )


def test_a_single_spike_is_not_a_breach() -> None:
    values = [100.0] * 57 + [100.0, 450.0, 100.0]
    finding = evaluate(series(values), LIMIT, window_start=T0 + timedelta(minutes=55))
    assert finding is not None and not finding.breached and finding.peak == 450.0


def test_moderate_deviation_shows_its_sigma() -> None:
    values = [100.0 + (i % 5) * 2 for i in range(55)] + [130.0] * 5
    finding = evaluate(series(values), LIMIT, window_start=T0 + timedelta(minutes=55))
    assert finding is not None and not finding.breached
    assert "+8.8 sigma" in finding.sentence()  # (130 - 104) / (1.4826 * MAD 2)


def test_nan_and_empty_windows() -> None:
    assert evaluate(series([1.0, 2.0]), LIMIT, window_start=T0 + timedelta(hours=1)) is None
    values = [100.0] * 10 + [float("nan")] * 3
    assert evaluate(series(values), LIMIT, T0 + timedelta(minutes=10)) is None


def test_fmt_and_causes() -> None:
    assert fmt(1203.4, "req/s") == "1,203 req/s"
    assert fmt(91.04, "%") == "91 %"
    assert fmt(2.456) == "2.46"
    assert "memory leak" in (likely_cause({"java_heap_usage", "java_gc_time", "cpu_usage"}) or "")
    assert likely_cause({"vemkd_process_count"}) is None
